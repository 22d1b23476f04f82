/**
 * `scripts/add-node`: everything a new storage node needs, in one idempotent command.
 *
 *   scripts/add-node --node-id s02 --public-url https://s02.example.com \
 *     --pool hot:/srv/fennec/s02-hot [--pool cold:/mnt/disk2/fennec ...] \
 *     [--s3-pool '{"id":"s02-cold","tier":"cold","s3":{"bucket":"…",…}}' ...] \
 *     --coordinator-url https://coord.example.com   (admin key: FENNEC_ADMIN_KEY or --admin-key-file)
 *     [--allow-insecure-keys]   (a plain-http coordinator on another host: FENNEC_ALLOW_INSECURE_KEYS)
 *
 * 1. writes `{etc}/node-{id}.env` (FENNEC_* for the node; see systemd/fennec-node@.service)
 * 2. `fennec-node init`: identity key (kept if present) and pool markers
 * 3. registers the node, its public key and pools with the coordinator (POST /api/v1/admin/nodes;
 *    a re-run keeps each pool's weight, accepting flag and replication factor as they are now)
 * 4. renders the nginx site and the systemd drop-in that makes the pool directories writable
 * 5. prints the commands that start it.
 * `--coordinator-site --server-name coord.example.com` renders the coordinator's nginx site only.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { TIERS, UPLOAD_PATH } from '../shared/api.js';
import { ConfigError, parseConfig } from '../shared/config.js';
import { NODE_KEYS_PATH } from '../shared/replication.js';
import { initConfigSchema } from '../storage-node/config.js';
import { ALLOW_INSECURE_KEYS_ENV, keySourceProblem } from '../storage-node/key-source.js';
import { type NodeSitePool, renderCoordinatorSite, renderNodeSite, repoRoot } from './operators/nginx.js';

const NODE_V8_FLAGS = ['--max-semi-space-size=1'];
const ID = /^[a-z0-9][a-z0-9-]*$/;

const { values: a } = parseArgs({
  options: {
    'node-id': { type: 'string' },
    'public-url': { type: 'string' },
    pool: { type: 'string', multiple: true, default: [] },
    's3-pool': { type: 'string', multiple: true, default: [] },
    'coordinator-url': { type: 'string' },
    'admin-key-file': { type: 'string' },
    'redis-url': { type: 'string', default: 'redis://127.0.0.1:6379' },
    'listen-port': { type: 'string', default: '8081' },
    'nginx-listen': { type: 'string', default: '80' },
    'max-body': { type: 'string', default: '5200m' },
    'state-dir': { type: 'string' },
    'etc-dir': { type: 'string', default: '/etc/fennec' },
    'nginx-dir': { type: 'string', default: '/etc/nginx/sites-available' },
    'systemd-dir': { type: 'string', default: '/etc/systemd/system' },
    user: { type: 'string', default: 'fennec' },
    'replace-key': { type: 'boolean', default: false },
    'allow-insecure-keys': { type: 'boolean', default: false },
    'coordinator-site': { type: 'boolean', default: false },
    'server-name': { type: 'string' },
    upstream: { type: 'string', default: '127.0.0.1:8080' },
  },
  strict: true,
});

function fail(message: string): never {
  process.stderr.write(`add-node: ${message}\n`);
  process.exit(2);
}

/** Writes only when the content changed (so a re-run reports what it touched), atomically. */
function writeIfChanged(file: string, content: string, mode: number): 'created' | 'updated' | 'unchanged' {
  const before = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  if (before === content) return 'unchanged';
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, content, { mode });
  renameSync(`${file}.tmp`, file);
  return before === undefined ? 'created' : 'updated';
}

const say = (line: string) => process.stdout.write(`${line}\n`);

if (a['coordinator-site']) {
  if (!a['server-name']) fail('--server-name is required');
  const file = path.join(a['nginx-dir'], 'fennec-coordinator.conf');
  const site = renderCoordinatorSite({ listen: a['nginx-listen'], serverName: a['server-name'], upstream: a.upstream });
  say(`nginx site ${file}: ${writeIfChanged(file, site, 0o644)}`);
  process.exit(0);
}

const nodeId = a['node-id'] ?? fail('--node-id is required');
if (!ID.test(nodeId)) fail('--node-id must match [a-z0-9-]+');
const publicUrl = (a['public-url'] ?? fail('--public-url is required')).replace(/\/+$/, '');
const coordinatorUrl = (a['coordinator-url'] ?? fail('--coordinator-url is required')).replace(/\/+$/, '');
for (const u of [publicUrl, coordinatorUrl]) if (!/^https?:\/\/[^/]/.test(u)) fail(`${u} is not an http(s) URL`);
// The node fetches its verification keys from the coordinator and refuses plain http to another
// host (storage-node/key-source.ts): say so now rather than write a node that will not start.
// The flag is written only where it is needed, so an https or loopback setup never carries it.
const keysProblem = keySourceProblem('--coordinator-url', `${coordinatorUrl}${NODE_KEYS_PATH}`);
const insecureKeys = keysProblem !== undefined;
if (keysProblem && !a['allow-insecure-keys']) fail(`${keysProblem} (here: --allow-insecure-keys)`);
if (insecureKeys)
  process.stderr.write(
    `add-node: warning: ${coordinatorUrl} is plain http to another host; writing ${ALLOW_INSECURE_KEYS_ENV}=1 (keys can be replaced in transit)\n`,
  );
const adminKey = a['admin-key-file'] ? readFileSync(a['admin-key-file'], 'utf8').trim() : process.env.FENNEC_ADMIN_KEY;
if (!adminKey) fail('the admin key is required: FENNEC_ADMIN_KEY or --admin-key-file');
if (a.pool.length === 0) fail('at least one --pool [ID:]TIER:DIR is required');

/**
 * `[ID:]TIER:DIR`; the id defaults to `{node}-{tier}`. The first pool is served at the public URL
 * itself, each further one under `{public URL}/{pool id}` — adding a pool later moves no URL.
 */
const pools = a.pool.map((spec, i) => {
  const parts = spec.split(':');
  const [id, tier, dir] =
    parts.length >= 3 ? [parts[0]!, parts[1]!, parts.slice(2).join(':')] : [`${nodeId}-${parts[0]}`, parts[0]!, parts[1] ?? ''];
  if (!ID.test(id)) fail(`pool id ${id} must match [a-z0-9-]+`);
  if (!(TIERS as readonly string[]).includes(tier)) fail(`pool ${id}: tier must be one of ${TIERS.join(', ')}`);
  if (!path.isAbsolute(dir)) fail(`pool ${id}: directory must be an absolute path`);
  return { id, tier, path: path.resolve(dir), public_base_url: i === 0 ? publicUrl : `${publicUrl}/${id}` };
});

/**
 * `--s3-pool JSON`: an s3 pool's FENNEC_POOLS entry (id, tier, s3, presign_seconds…), served
 * under `{public URL}/{id}`; `fennec-node init` checks the rest. Its credentials are FENNEC_S3_*
 * in the env file, kept across runs (below).
 */
const s3Pools = a['s3-pool'].map((spec) => {
  let p: unknown;
  try {
    p = JSON.parse(spec);
  } catch {
    fail(`--s3-pool ${spec}: not JSON`);
  }
  if (typeof p !== 'object' || p === null || Array.isArray(p)) fail(`--s3-pool ${spec}: not a JSON object`);
  const entry = p as Record<string, unknown>;
  const id = typeof entry.id === 'string' && ID.test(entry.id) ? entry.id : fail(`--s3-pool ${spec}: "id" must match [a-z0-9-]+`);
  if (pools.some((d) => d.id === id)) fail(`pool id ${id} is given twice`);
  return { ...entry, id, tier: String(entry.tier), type: 's3' as const, public_base_url: `${publicUrl}/${id}` };
});

const stateDir = path.resolve(a['state-dir'] ?? `/var/lib/fennec/node-${nodeId}`);
const envFile = path.join(a['etc-dir'], `node-${nodeId}.env`);
const env: Record<string, string> = {
  FENNEC_NODE_ID: nodeId,
  FENNEC_LISTEN_HOST: '127.0.0.1',
  FENNEC_LISTEN_PORT: a['listen-port'],
  FENNEC_PUBLIC_URL: publicUrl,
  FENNEC_POOLS: JSON.stringify([...pools, ...s3Pools]),
  FENNEC_STATE_DIR: stateDir,
  FENNEC_NODE_KEY_FILE: path.join(stateDir, 'node.key'),
  FENNEC_COORDINATOR_URL: coordinatorUrl,
  FENNEC_REDIS_URL: a['redis-url'],
  ...(insecureKeys ? { [ALLOW_INSECURE_KEYS_ENV]: '1' } : {}),
};
// The node's own check of FENNEC_POOLS (an s3 pool's fields above all), before anything is written.
try {
  parseConfig(initConfigSchema, env);
} catch (err) {
  if (err instanceof ConfigError) fail(err.problems.join('; '));
  throw err;
}
// S3 credentials (backups, s3 pools) are added to the env file by hand: a re-run keeps them.
if (existsSync(envFile))
  for (const m of readFileSync(envFile, 'utf8').matchAll(/^(FENNEC_S3_[A-Z0-9_]+)='([^'\n\\]*)'$/gm)) env[m[1]!] ??= m[2]!;
// Single quotes: literal for both systemd's EnvironmentFile and the binaries' own env-file parser.
for (const [k, v] of Object.entries(env)) if (/['\n\\]/.test(v)) fail(`${k} must not contain quotes, backslashes or newlines`);
const envText = `# fennec-node@${nodeId}: written by scripts/add-node\n${Object.entries(env)
  .map(([k, v]) => `${k}='${v}'`)
  .join('\n')}\n`;
say(`env file ${envFile}: ${writeIfChanged(envFile, envText, 0o640)}`);

// Key and pool markers, by the node binary itself: one place decides their format.
const init = execFileSync(process.execPath, [...NODE_V8_FLAGS, path.join(repoRoot(), 'dist/storage-node/main.js'), 'init'], {
  env: { ...process.env, ...env, FENNEC_LOG_LEVEL: 'warn' },
  encoding: 'utf8',
});
const { public_key } = JSON.parse(init.trim().split('\n').at(-1)!) as { public_key: { x: string } };
say(`identity key ${env.FENNEC_NODE_KEY_FILE}: public x=${public_key.x}`);

// Running as root for a real install: the service user must own what it writes.
const isRoot = process.getuid?.() === 0;
let userExists = false;
try {
  execFileSync('id', ['-u', a.user], { stdio: 'ignore' });
  userExists = true;
} catch {
  // no such user: a test or a dev machine
}
if (isRoot && userExists) {
  const owned = [stateDir, ...pools.flatMap((p) => [p.path, path.join(p.path, 'tmp'), path.join(p.path, '.fennec-pool.json')])];
  execFileSync('chown', [`${a.user}:${a.user}`, ...owned]);
  execFileSync('chown', [`root:${a.user}`, envFile]);
  say(`owner ${a.user}: ${owned.join(' ')}`);
}

async function admin(method: string, route: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${coordinatorUrl}${route}`, {
    method,
    headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => undefined);
  if (!res.ok) fail(`${method} ${route} → ${res.status} ${JSON.stringify(json)}`);
  return { status: res.status, json };
}

// Registration upserts pools with defaults: keep what the operator has changed since.
const known = new Map<string, { weight: number; accepting: boolean; replication_factor: number }>(
  ((await admin('GET', '/api/v1/admin/pools')).json.pools as any[]).map((p) => [p.pool_id, p]),
);
const reg = await admin('POST', '/api/v1/admin/nodes', {
  node_id: nodeId,
  public_key: { kty: 'OKP', crv: 'Ed25519', x: public_key.x },
  upload_api_url: `${publicUrl}${UPLOAD_PATH}`,
  public_url: publicUrl,
  replace_key: a['replace-key'],
  pools: [
    ...pools.map((p) => {
      const k = known.get(p.id);
      return {
        pool_id: p.id,
        tier: p.tier,
        public_base_url: p.public_base_url,
        ...(k ? { weight: k.weight, accepting: k.accepting, replication_factor: k.replication_factor } : {}),
      };
    }),
    // accepting and replication_factor left to the coordinator: never accepting, factor 1.
    ...s3Pools.map((p) => ({ pool_id: p.id, tier: p.tier, type: 's3', public_base_url: p.public_base_url })),
  ],
});
say(
  `coordinator ${coordinatorUrl}: node ${nodeId} ${reg.status === 201 ? 'registered' : 'already registered (updated)'} with pools ${[...pools, ...s3Pools].map((p) => p.id).join(', ')}`,
);

const sitePools: NodeSitePool[] = [
  ...pools.map((p) => ({ pool_id: p.id, dir: p.path, public_base_url: p.public_base_url })),
  ...s3Pools.map((p) => ({ pool_id: p.id, type: 's3' as const, dir: '', public_base_url: p.public_base_url })),
];
const siteFile = path.join(a['nginx-dir'], `fennec-node-${nodeId}.conf`);
const site = renderNodeSite({
  nodeId,
  listen: a['nginx-listen'],
  serverName: new URL(publicUrl).hostname,
  nodeUpstream: `127.0.0.1:${a['listen-port']}`,
  maxBody: a['max-body'],
  pools: sitePools,
});
say(`nginx site ${siteFile}: ${writeIfChanged(siteFile, site, 0o644)}`);

// ProtectSystem=strict: the pools (and a state dir outside the unit's own) are the only writable paths.
const writable = [...pools.map((p) => p.path), ...(stateDir === `/var/lib/fennec/node-${nodeId}` ? [] : [stateDir])];
const dropInText = `# written by scripts/add-node\n[Service]\n${writable.map((d) => `ReadWritePaths=${d}`).join('\n')}\n`;
// The node and its job worker (its own unit, own MemoryMax) write the same pools and state.
for (const unit of [`fennec-node@${nodeId}`, `fennec-node-worker@${nodeId}`]) {
  const dropIn = path.join(a['systemd-dir'], `${unit}.service.d`, 'pools.conf');
  say(`systemd drop-in ${dropIn}: ${writeIfChanged(dropIn, dropInText, 0o644)}`);
}

say('');
say('next:');
say(`  ln -sf ${siteFile} /etc/nginx/sites-enabled/ && nginx -t && systemctl reload nginx`);
say('  systemctl daemon-reload');
say(`  systemctl enable --now fennec-node@${nodeId}`);
