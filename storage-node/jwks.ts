import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { type CryptoKey, createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey, errors as joseErrors } from 'jose';
import type { Logger } from 'pino';
import { errors } from '../shared/errors.js';
import { assertSecureKeySource } from './key-source.js';

function parseJwks(text: string, from: string): JSONWebKeySet {
  const jwks = JSON.parse(text) as JSONWebKeySet;
  if (!Array.isArray(jwks?.keys)) throw new Error(`${from}: not a JWKS ({"keys": [...]})`);
  return jwks;
}

/** A static key set (FENNEC_JWKS_FILE): no coordinator needed at all. */
export function staticKeySource(file: string): JWTVerifyGetKey {
  return createLocalJWKSet(parseJwks(readFileSync(file, 'utf8'), file));
}

export interface CachedKeySetOptions {
  url: string;
  cacheFile: string;
  logger: Logger;
  refreshMs?: number;
  cooldownMs?: number;
  timeoutMs?: number;
  /**
   * Fetch over plain http from a host other than this machine (FENNEC_ALLOW_INSECURE_KEYS, for a
   * private network without TLS). Off: such a URL is refused at construction (key-source.ts).
   */
  allowInsecure?: boolean;
}

type LocalSet = ReturnType<typeof createLocalJWKSet>;
type Header = Parameters<LocalSet>[0];
type Token = Parameters<LocalSet>[1];

/**
 * A JWKS published by the coordinator, fetched and kept. Unlike jose's remote set, the last good
 * set never expires: tokens are verified locally so that uploads and copies go on while the
 * coordinator is down, and a key set that was valid a minute ago still is. It is refreshed
 * periodically, on an unknown `kid` (key rotation, a newly registered node; at most once per
 * cooldown, so made-up kids cannot flood the coordinator), and persisted so a node restarted
 * during a coordinator outage still verifies.
 */
export class CachedKeySet {
  private local: LocalSet | undefined;
  private lastAttempt = 0;
  private inflight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    protected readonly opts: CachedKeySetOptions,
    /** What the set is, for log lines and the 503 message. */
    private readonly what: string,
  ) {
    assertSecureKeySource(`the URL of ${what}`, opts.url, opts.allowInsecure);
    try {
      this.local = createLocalJWKSet(parseJwks(readFileSync(opts.cacheFile, 'utf8'), opts.cacheFile));
    } catch {
      // no cached set yet: the first refresh makes one
    }
  }

  /** First fetch (non-fatal) and the periodic refresh. */
  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.opts.refreshMs ?? 5 * 60_000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One fetch at a time; callers arriving meanwhile share it. Failures keep the old set. */
  refresh(): Promise<void> {
    this.inflight ??= this.fetchOnce().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async fetchOnce(): Promise<void> {
    this.lastAttempt = Date.now();
    try {
      const res = await fetch(this.opts.url, { signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5000) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const text = await res.text();
      const jwks = parseJwks(text, this.opts.url);
      this.local = createLocalJWKSet(jwks);
      const tmp = `${this.opts.cacheFile}.tmp`;
      writeFileSync(tmp, text);
      renameSync(tmp, this.opts.cacheFile);
    } catch (err) {
      this.opts.logger.warn({ err: (err as Error).message, url: this.opts.url }, `cannot fetch ${this.what}; keeping the last set`);
    }
  }

  /** The key for a header, refetching once (per cooldown) when its kid is unknown. */
  protected async lookup(header: Header, token?: Token): Promise<CryptoKey> {
    if (!this.local) await this.refresh();
    if (!this.local) throw errors.unavailable('jwks_unavailable', `cannot fetch ${this.what}`);
    try {
      return await this.local(header, token);
    } catch (err) {
      const cooled = Date.now() - this.lastAttempt > (this.opts.cooldownMs ?? 30_000);
      if (err instanceof joseErrors.JWKSNoMatchingKey && cooled) {
        await this.refresh();
        return this.local(header, token);
      }
      throw err;
    }
  }
}

/** The coordinator's token signing keys (`/.well-known/jwks.json`): upload tokens are checked against them. */
export class CoordinatorKeys extends CachedKeySet {
  constructor(opts: CachedKeySetOptions) {
    super(opts, 'the coordinator keys');
  }

  readonly getKey: JWTVerifyGetKey = (header, token) => this.lookup(header, token);
}

/**
 * Every registered node's identity key, as the coordinator publishes them (NODE_KEYS_PATH,
 * `kid` = node id): a peer's replication PUT is checked against its sender's key.
 */
export class NodeKeys extends CachedKeySet {
  /**
   * A short refetch cooldown by default: nodes join the cluster at any time, and a peer
   * registered after this node started must be accepted within seconds — with the coordinator
   * keys' 30 s, repair PUTs from a newer node were refused until their retries ran out. Made-up
   * node ids still cost the coordinator at most one fetch per cooldown.
   */
  constructor(opts: CachedKeySetOptions) {
    super({ cooldownMs: 2000, ...opts }, 'the node keys');
  }

  /** The node's public key, or undefined when no such node is registered (→ 401 `unknown_node`). */
  readonly resolveNodeKey = async (nodeId: string): Promise<CryptoKey | undefined> => {
    try {
      return await this.lookup({ alg: 'EdDSA', kid: nodeId });
    } catch (err) {
      if (err instanceof joseErrors.JWKSNoMatchingKey) return undefined;
      throw err;
    }
  };
}
