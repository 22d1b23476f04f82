import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseEnv, promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UPLOAD_PATH } from '../shared/api.js';
import { parseConfig } from '../shared/config.js';
import { nodeConfigSchema } from '../storage-node/config.js';
import { startTestCluster, type TestCluster } from './support/test-cluster.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');

describe('scripts/add-node', () => {
  let t: TestCluster;
  let dir: string;
  let args: string[];
  const addNode = () =>
    run(path.join(root, 'scripts/add-node'), args, { env: { ...process.env, FENNEC_ADMIN_KEY: t.cluster.info.admin_key } });
  const admin = async (method: string, route: string, body?: unknown) => (await t.cluster.admin(method, route, body)) as any;

  beforeAll(async () => {
    t = await startTestCluster();
    dir = mkdtempSync(path.join(os.tmpdir(), 'fennec-add-node-'));
    args = [
      '--node-id',
      's09',
      '--public-url',
      'https://s09.example.com',
      '--pool',
      `hot:${dir}/disk1/hot`,
      '--pool',
      `s09-archive:cold:${dir}/disk2/archive`,
      '--coordinator-url',
      t.cluster.info.coordinator_url,
      '--redis-url',
      t.cluster.info.redis_url,
      '--listen-port',
      '18099',
      '--state-dir',
      `${dir}/state`,
      '--etc-dir',
      `${dir}/etc`,
      '--nginx-dir',
      `${dir}/nginx`,
      '--systemd-dir',
      `${dir}/systemd`,
    ];
  });
  afterAll(async () => {
    await t?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('writes the env file, key, markers, nginx site and drop-in, and registers node and pools', async () => {
    const { stdout } = await addNode();
    expect(stdout).toContain('systemctl enable --now fennec-node@s09');
    const env = parseEnv(readFileSync(`${dir}/etc/node-s09.env`, 'utf8')) as Record<string, string>;
    // The file is a complete, valid node configuration.
    const cfg = parseConfig(nodeConfigSchema, env);
    expect(cfg.pools.map((p) => [p.id, p.tier, p.public_base_url])).toEqual([
      ['s09-hot', 'hot', 'https://s09.example.com'],
      ['s09-archive', 'cold', 'https://s09.example.com/s09-archive'],
    ]);
    expect(cfg.listenPort).toBe(18099);
    expect(existsSync(`${dir}/state/node.key`)).toBe(true);
    expect(JSON.parse(readFileSync(`${dir}/disk1/hot/.fennec-pool.json`, 'utf8')).pool_id).toBe('s09-hot');
    expect(JSON.parse(readFileSync(`${dir}/disk2/archive/.fennec-pool.json`, 'utf8')).pool_id).toBe('s09-archive');

    const site = readFileSync(`${dir}/nginx/fennec-node-s09.conf`, 'utf8');
    expect(site).toContain(`location ^~ /uploads/original/ {\n        alias ${dir}/disk1/hot/original/;`);
    expect(site).toContain(`location ^~ /s09-archive/uploads/original/ {\n        alias ${dir}/disk2/archive/original/;`);
    expect(site).toContain('server 127.0.0.1:18099;');
    expect(site).toContain('image/heic heic;');
    const dropIn = `# written by scripts/add-node\n[Service]\nReadWritePaths=${dir}/disk1/hot\nReadWritePaths=${dir}/disk2/archive\nReadWritePaths=${dir}/state\n`;
    expect(readFileSync(`${dir}/systemd/fennec-node@s09.service.d/pools.conf`, 'utf8')).toBe(dropIn);
    // The job worker is its own unit (own MemoryMax) writing the same pools.
    expect(readFileSync(`${dir}/systemd/fennec-node-worker@s09.service.d/pools.conf`, 'utf8')).toBe(dropIn);

    const { nodes } = await admin('GET', '/api/v1/admin/nodes');
    const s09 = nodes.find((n: any) => n.node_id === 's09');
    expect(s09).toMatchObject({ upload_api_url: `https://s09.example.com${UPLOAD_PATH}`, public_url: 'https://s09.example.com' });
    expect(s09.pools.map((p: any) => p.pool_id).sort()).toEqual(['s09-archive', 's09-hot']);
  });

  it('a second run changes nothing: same key, files unchanged, operator pool settings kept', async () => {
    const key = readFileSync(`${dir}/state/node.key`, 'utf8');
    await admin('PATCH', '/api/v1/admin/pools/s09-hot', { accepting: false, weight: 7 });
    const { stdout } = await addNode();
    expect(stdout).toMatch(/env file .*: unchanged/);
    expect(stdout).toMatch(/nginx site .*: unchanged/);
    expect(stdout).toMatch(/systemd drop-in .*: unchanged/);
    expect(stdout).toContain('node s09 already registered');
    expect(readFileSync(`${dir}/state/node.key`, 'utf8')).toBe(key);
    const { pools } = await admin('GET', '/api/v1/admin/pools');
    expect(pools.find((p: any) => p.pool_id === 's09-hot')).toMatchObject({ accepting: false, weight: 7 });
  });

  it.skipIf(!existsSync('/usr/bin/systemd-analyze'))(
    'the drop-in it wrote loads cleanly with the node unit (systemd-analyze verify)',
    async () => {
      // The shipped template beside the drop-in, installed from this checkout (see test/systemd.test.ts).
      const unit = readFileSync(path.join(root, 'systemd/fennec-node@.service'), 'utf8')
        .replaceAll('/opt/fennec', root)
        .replaceAll('/usr/bin/node', process.execPath);
      writeFileSync(`${dir}/systemd/fennec-node@.service`, unit);
      const { stderr } = await run('/usr/bin/systemd-analyze', ['verify', 'fennec-node@s09.service'], {
        env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}/systemd:` },
      });
      expect(stderr).toBe('');
      const { stdout } = await run('/usr/bin/systemd-analyze', ['security', '--offline=yes', '--no-pager', 'fennec-node@s09.service'], {
        env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}/systemd:` },
      });
      expect(stdout).toMatch(/Overall exposure level for fennec-node@s09\.service: 1\.\d/);
    },
  );

  it('refuses bad input with a clear message and exit code 2', async () => {
    const err = await run(path.join(root, 'scripts/add-node'), ['--node-id', 'S 9'], { env: process.env }).catch((e) => e);
    expect(err.code).toBe(2);
    expect(err.stderr).toMatch(/--node-id must match/);
  });

  it('refuses a plain-http coordinator on another host (the node would not start) unless --allow-insecure-keys', async () => {
    const other = args.map((v, i) =>
      args[i - 1] === '--coordinator-url' ? 'http://coord.example:8080' : args[i - 1] === '--node-id' ? 's08' : v,
    );
    const err = await run(path.join(root, 'scripts/add-node'), other, { env: { ...process.env, FENNEC_ADMIN_KEY: 'fa_x' } }).catch(
      (e) => e,
    );
    expect(err.code).toBe(2);
    expect(err.stderr).toMatch(/plain http to another host.*--allow-insecure-keys/);
    expect(existsSync(`${dir}/etc/node-s08.env`)).toBe(false);
  });
});
