import { describe, expect, it } from 'vitest';
import { backupKey } from '../shared/backup.js';
import { type ConfigError, parseConfig } from '../shared/config.js';
import { variantBackupKey } from './backup/job.js';
import { DEFAULT_S3_POOL_CAPACITY, initConfigSchema, nodeConfigSchema, s3EnvPrefix } from './config.js';
import { DEFAULT_RECIPE } from './variants/recipe.js';

const pools = JSON.stringify([{ id: 'p1', tier: 'hot', path: '/srv/p1', public_base_url: 'http://127.0.0.1:8081' }]);
const base = {
  FENNEC_NODE_ID: 'n1',
  FENNEC_POOLS: pools,
  FENNEC_STATE_DIR: '/var/lib/fennec',
  FENNEC_NODE_KEY_FILE: '/etc/fennec/node.pem',
  // https: plain http to another host is refused for the key sets (see the key-source tests).
  FENNEC_COORDINATOR_URL: 'https://coord:8080/',
};
const problems = (env: Record<string, string | undefined>) => {
  try {
    parseConfig(nodeConfigSchema, env);
    return [];
  } catch (err) {
    return (err as ConfigError).problems;
  }
};

describe('node config', () => {
  it('applies the contract defaults', () => {
    const cfg = parseConfig(nodeConfigSchema, base);
    expect(cfg).toMatchObject({
      listenHost: '127.0.0.1',
      listenPort: 8081,
      publicUrl: undefined,
      coordinatorUrl: 'https://coord:8080',
      jwksUrl: 'https://coord:8080/.well-known/jwks.json',
      nodeKeysUrl: 'https://coord:8080/.well-known/fennec-node-keys.json',
      allowInsecureKeys: false,
      tokenIssuer: 'fennec-coordinator',
      redisPrefix: 'fennec:',
      heartbeatIntervalMs: 5000,
      idleTimeoutMs: 60000,
      clockSkewSeconds: 30,
      uploadRateIpPerMin: 600,
      outboxMaxBackoffMs: 30000,
      shutdownGraceMs: 2000,
    });
    expect(cfg.pools[0]).toEqual({
      id: 'p1',
      tier: 'hot',
      path: '/srv/p1',
      public_base_url: 'http://127.0.0.1:8081',
      max_bytes: null,
      variants: DEFAULT_RECIPE,
    });
    expect(cfg.jobs).toMatchObject({ concurrency: 1, maxPixels: 50_000_000, attempts: 5, lockMs: 30_000 });
    expect(cfg.jobs.variantParallel).toBeGreaterThanOrEqual(1);
    expect(cfg.jobs.timeoutMs).toBe(600_000);
    expect(cfg.workerMode).toBe('child');
  });

  it('FENNEC_WORKER_MODE: external (systemd runs the worker unit) or child; anything else is refused', () => {
    expect(parseConfig(nodeConfigSchema, { ...base, FENNEC_WORKER_MODE: 'external' }).workerMode).toBe('external');
    expect(problems({ ...base, FENNEC_WORKER_MODE: 'thread' }).join(' ')).toMatch(/FENNEC_WORKER_MODE/);
    expect(parseConfig(nodeConfigSchema, { ...base, FENNEC_JOB_TIMEOUT_MS: '0' }).jobs.timeoutMs).toBe(0);
  });

  describe('where verification keys come from (issue 17, item 10)', () => {
    const http = { ...base, FENNEC_COORDINATOR_URL: 'http://coord:8080/' };

    it('refuses plain http to another host, naming the variable and the way out', () => {
      const p = problems(http);
      expect(p).toHaveLength(1);
      expect(p[0]).toMatch(/^FENNEC_COORDINATOR_URL: .*http:\/\/coord:8080 is plain http/);
      expect(p[0]).toContain('FENNEC_ALLOW_INSECURE_KEYS');
      // an explicit JWKS URL is its own variable; the node-key list still comes from the coordinator
      const both = problems({ ...http, FENNEC_JWKS_URL: 'http://keys.example/jwks.json' });
      expect(both.map((s) => s.split(':')[0]).sort()).toEqual(['FENNEC_COORDINATOR_URL', 'FENNEC_JWKS_URL']);
      expect(problems({ ...base, FENNEC_JWKS_URL: 'http://keys.example/jwks.json' }).join()).toMatch(/^FENNEC_JWKS_URL: /);
    });

    it('lists it with every other bad value', () => {
      const p = problems({ ...http, FENNEC_LISTEN_PORT: '70000' });
      expect(p.some((s) => s.startsWith('FENNEC_LISTEN_PORT'))).toBe(true);
      expect(p.some((s) => s.startsWith('FENNEC_COORDINATOR_URL'))).toBe(true);
    });

    it('FENNEC_ALLOW_INSECURE_KEYS=1 allows it (a private network without TLS)', () => {
      for (const v of ['1', 'true', 'yes'])
        expect(parseConfig(nodeConfigSchema, { ...http, FENNEC_ALLOW_INSECURE_KEYS: v }).allowInsecureKeys).toBe(true);
      expect(problems({ ...http, FENNEC_ALLOW_INSECURE_KEYS: '0' })).toHaveLength(1);
      expect(problems({ ...http, FENNEC_ALLOW_INSECURE_KEYS: 'maybe' }).join()).toMatch(/FENNEC_ALLOW_INSECURE_KEYS/);
    });

    it('plain http to this machine is fine', () => {
      for (const url of ['http://127.0.0.1:8080/', 'http://localhost:8080', 'http://[::1]:8080'])
        expect(problems({ ...base, FENNEC_COORDINATOR_URL: url }), url).toEqual([]);
    });

    it('a pinned FENNEC_JWKS_FILE replaces the JWKS URL; the node-key list is still checked', () => {
      const pinned = { ...base, FENNEC_JWKS_FILE: '/etc/fennec/jwks.json', FENNEC_JWKS_URL: 'http://keys.example/jwks.json' };
      expect(problems(pinned)).toEqual([]);
      expect(problems({ ...pinned, FENNEC_COORDINATOR_URL: 'http://127.0.0.1:8080' })).toEqual([]);
      // peers' keys are fetched from the coordinator whatever pins the JWKS
      expect(problems({ ...pinned, FENNEC_COORDINATOR_URL: 'http://coord:8080' }).join()).toMatch(
        /^FENNEC_COORDINATOR_URL: the node-key list/,
      );
    });
  });

  it('takes a variant recipe per pool and refuses a bad one', () => {
    const entry = { id: 'p1', tier: 'hot', path: '/srv/p1', public_base_url: 'http://x' };
    const cfg = parseConfig(nodeConfigSchema, {
      ...base,
      FENNEC_POOLS: JSON.stringify([{ ...entry, variants: { full_formats: ['webp'], avif: { effort: 4 } } }]),
    });
    expect(cfg.pools[0]!.variants).toMatchObject({ full_formats: ['webp'], avif: { effort: 4, quality: 45 }, webp: { quality: 85 } });
    const p = problems({ ...base, FENNEC_POOLS: JSON.stringify([{ ...entry, variants: { webp: { quality: 500 } } }]) });
    expect(p.join()).toMatch(/FENNEC_POOLS/);
  });

  it('lists every bad value at once', () => {
    const p = problems({
      FENNEC_POOLS: 'not json',
      FENNEC_NODE_ID: 'Bad_Id',
      FENNEC_LISTEN_PORT: '70000',
      FENNEC_SCRUB_CRON: 'every night',
    });
    expect(p.some((s) => s.startsWith('FENNEC_SCRUB_CRON'))).toBe(true);
    expect(p.some((s) => s.startsWith('FENNEC_POOLS'))).toBe(true);
    expect(p.some((s) => s.startsWith('FENNEC_NODE_ID'))).toBe(true);
    expect(p.some((s) => s.startsWith('FENNEC_LISTEN_PORT'))).toBe(true);
    expect(p.some((s) => s.startsWith('FENNEC_STATE_DIR'))).toBe(true);
    expect(p.some((s) => s.startsWith('FENNEC_COORDINATOR_URL'))).toBe(true);
  });

  it('rejects relative pool paths, duplicate ids and unknown tiers', () => {
    const bad = (p: unknown[]) => problems({ ...base, FENNEC_POOLS: JSON.stringify(p) });
    const ok = { id: 'p1', tier: 'hot', path: '/srv/p1', public_base_url: 'http://x' };
    expect(bad([{ ...ok, path: 'rel/p1' }]).join()).toMatch(/absolute/);
    expect(bad([ok, { ...ok, path: '/srv/p2' }]).join()).toMatch(/duplicate pool id/);
    expect(bad([{ ...ok, tier: 'lukewarm' }])).not.toEqual([]);
    expect(bad([])).not.toEqual([]);
  });

  it('init needs only the node id, key file and pools', () => {
    const cfg = parseConfig(initConfigSchema, { FENNEC_NODE_ID: 'n1', FENNEC_NODE_KEY_FILE: '/k.pem', FENNEC_POOLS: pools });
    expect(cfg.pools).toHaveLength(1);
  });

  describe('S3 backup', () => {
    const entry = { id: 's01-hot', tier: 'hot', path: '/srv/p1', public_base_url: 'http://x' };
    const withBackup = (backup: unknown, extra: Record<string, string> = {}) => ({
      ...base,
      FENNEC_POOLS: JSON.stringify([{ ...entry, backup }]),
      ...extra,
    });
    const shared = { FENNEC_S3_ACCESS_KEY_ID: 'AK', FENNEC_S3_SECRET_ACCESS_KEY: 'SK' };

    it('applies the defaults and reads the shared credentials', () => {
      const cfg = parseConfig(nodeConfigSchema, withBackup({ bucket: 'b' }, shared));
      expect(cfg.pools[0]!.backup).toEqual({
        region: 'us-east-1',
        bucket: 'b',
        prefix: '',
        force_path_style: false,
        delay_seconds: 0,
        include_variants: false,
        concurrency: 2,
      });
      expect(cfg.backup.credentials).toEqual({ 's01-hot': { accessKeyId: 'AK', secretAccessKey: 'SK' } });
      expect(cfg.backup).toMatchObject({ attempts: 50, backoffMs: 2000, maxBackoffMs: 600_000 });
    });

    it('takes every field, and the pool’s own credentials win over the shared pair', () => {
      const target = {
        endpoint: 'http://127.0.0.1:9000',
        region: 'eu-central-003',
        bucket: 'photos',
        prefix: 'fennec/',
        force_path_style: true,
        delay_seconds: 3600,
        include_variants: true,
        concurrency: 4,
      };
      expect(s3EnvPrefix('s01-hot')).toBe('FENNEC_S3_S01_HOT_');
      const cfg = parseConfig(
        nodeConfigSchema,
        withBackup(target, { ...shared, FENNEC_S3_S01_HOT_ACCESS_KEY_ID: 'own', FENNEC_S3_S01_HOT_SECRET_ACCESS_KEY: 'ownsecret' }),
      );
      expect(cfg.pools[0]!.backup).toEqual(target);
      expect(cfg.backup.credentials['s01-hot']).toEqual({ accessKeyId: 'own', secretAccessKey: 'ownsecret' });
    });

    it('a pool without a backup target needs no credentials', () => {
      expect(parseConfig(nodeConfigSchema, base).backup.credentials).toEqual({});
    });

    it('refuses a backup without credentials, naming the pool and the variables', () => {
      const p = problems(withBackup({ bucket: 'b' }));
      expect(p).toHaveLength(1);
      expect(p[0]).toMatch(/^FENNEC_S3_ACCESS_KEY_ID: .*s01-hot.*FENNEC_S3_S01_HOT_ACCESS_KEY_ID/);
      // Half a pair is no pair; an empty value is unset.
      expect(problems(withBackup({ bucket: 'b' }, { FENNEC_S3_ACCESS_KEY_ID: 'AK', FENNEC_S3_SECRET_ACCESS_KEY: '' }))).toHaveLength(1);
    });

    it('refuses a bad target', () => {
      expect(problems(withBackup({}, shared)).join()).toMatch(/FENNEC_POOLS/);
      expect(problems(withBackup({ bucket: 'b', delay_seconds: 31 * 86400 }, shared)).join()).toMatch(/30 days/);
      expect(problems(withBackup({ bucket: 'b', delay_seconds: -1 }, shared))).not.toEqual([]);
      expect(problems(withBackup({ bucket: 'b', concurrency: 0 }, shared))).not.toEqual([]);
      expect(problems(withBackup({ bucket: 'b', endpoint: 'not a url' }, shared))).not.toEqual([]);
    });

    it('keys follow the day path of the original, under the prefix', () => {
      expect(backupKey('', 'original/2026/12/01/u.jpg')).toBe('2026/12/01/u.jpg');
      expect(backupKey('/fennec/s01/', 'original/2026/12/01/u.jpg')).toBe('fennec/s01/2026/12/01/u.jpg');
      expect(backupKey('p', 'private/original/2026/12/01/u.png')).toBe('p/2026/12/01/u.png');
      expect(() => backupKey('p', 'variants/2026/12/01/u.webp')).toThrow();
      expect(variantBackupKey('p', 'variants/2026/12/01/u_small.webp')).toBe('p/2026/12/01/u_small.webp');
      expect(variantBackupKey('p', 'private/variants/2026/12/01/u.avif')).toBe('p/2026/12/01/u.avif');
    });
  });
});

describe('s3 pools in FENNEC_POOLS', () => {
  const disk = { id: 'hot', tier: 'hot', path: '/srv/hot', public_base_url: 'http://n1' };
  const cold = {
    id: 'cold',
    tier: 'cold',
    type: 's3',
    public_base_url: 'http://n1/cold',
    s3: { bucket: 'b', endpoint: 'http://s3:9000', prefix: '/fennec/cold/', force_path_style: true },
  };
  const creds = { FENNEC_S3_ACCESS_KEY_ID: 'AK', FENNEC_S3_SECRET_ACCESS_KEY: 'SK' };
  const env = (list: unknown[], extra: Record<string, string> = creds) => ({ ...base, FENNEC_POOLS: JSON.stringify(list), ...extra });

  it('keeps disk pools as they were and lists s3 pools apart, with defaults and their credentials', () => {
    const cfg = parseConfig(nodeConfigSchema, env([disk, cold]));
    expect(cfg.pools).toEqual([{ ...disk, max_bytes: null, variants: DEFAULT_RECIPE }]);
    expect(cfg.s3Pools).toEqual([
      {
        config: {
          id: 'cold',
          tier: 'cold',
          type: 's3',
          public_base_url: 'http://n1/cold',
          s3: { bucket: 'b', endpoint: 'http://s3:9000', region: 'us-east-1', prefix: 'fennec/cold', force_path_style: true },
          presign_seconds: 3600,
          capacity_bytes: DEFAULT_S3_POOL_CAPACITY,
        },
        credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' },
      },
    ]);
    expect(DEFAULT_S3_POOL_CAPACITY).toBe(2 ** 50);
    // An explicit disk type is the default spelled out; init sees the disk pools only (markers).
    expect(parseConfig(nodeConfigSchema, env([{ ...disk, type: 'disk' }])).pools[0]).not.toHaveProperty('type');
    expect(
      parseConfig(initConfigSchema, { FENNEC_NODE_ID: 'n1', FENNEC_NODE_KEY_FILE: '/k.pem', FENNEC_POOLS: JSON.stringify([disk, cold]) })
        .pools,
    ).toHaveLength(1);
  });

  it("takes the pool's own credentials over the shared pair, and refuses an s3 pool without any", () => {
    const own = parseConfig(
      nodeConfigSchema,
      env([cold], { ...creds, FENNEC_S3_COLD_ACCESS_KEY_ID: 'own', FENNEC_S3_COLD_SECRET_ACCESS_KEY: 'ownsecret' }),
    );
    expect(own.s3Pools[0]!.credentials).toEqual({ accessKeyId: 'own', secretAccessKey: 'ownsecret' });
    const p = problems(env([disk, cold], {}));
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^FENNEC_S3_ACCESS_KEY_ID: no S3 credentials for s3 pool cold: .*FENNEC_S3_COLD_ACCESS_KEY_ID/);
  });

  it('says what is wrong with a bad s3 pool', () => {
    const bad = (over: Record<string, unknown>) => problems(env([disk, { ...cold, ...over }])).join('\n');
    expect(bad({ path: '/srv/cold' })).toMatch(/an s3 pool has no path/);
    expect(bad({ max_bytes: 5 })).toMatch(/use capacity_bytes/);
    expect(bad({ backup: { bucket: 'x' } })).toMatch(/no backup target/);
    expect(bad({ s3: { prefix: 'x' } })).toMatch(/needs s3\.bucket/);
    expect(bad({ s3: { bucket: 'b', endpoint: 'not a url' } })).toMatch(/FENNEC_POOLS\.1\.s3\.endpoint/);
    expect(bad({ s3: { bucket: 'b', secret: 'x' } })).toMatch(/secret/);
    expect(bad({ presign_seconds: 10 })).toMatch(/at least 60/);
    expect(bad({ presign_seconds: 8 * 86400 })).toMatch(/at most 7 days/);
    expect(bad({ type: 'nfs' })).toMatch(/pool type must be "disk" or "s3"/);
    expect(bad({ id: 'hot' })).toMatch(/duplicate pool id hot/);
    // Its URL path is its own: the node answers it with redirects, never from a directory.
    expect(bad({ public_base_url: 'http://other-host/' })).toMatch(/shares its public_base_url path/);
    expect(problems(env([{ ...disk, path: undefined }])).join()).toMatch(/a disk pool needs an absolute path/);
  });
});
