import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  errors as joseErrors,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
} from 'jose';
import type { Logger } from 'pino';
import { errors } from '../shared/errors.js';

function parseJwks(text: string, from: string): JSONWebKeySet {
  const jwks = JSON.parse(text) as JSONWebKeySet;
  if (!Array.isArray(jwks?.keys)) throw new Error(`${from}: not a JWKS ({"keys": [...]})`);
  return jwks;
}

/** A static key set (FENNEC_JWKS_FILE): no coordinator needed at all. */
export function staticKeySource(file: string): JWTVerifyGetKey {
  return createLocalJWKSet(parseJwks(readFileSync(file, 'utf8'), file));
}

/**
 * The coordinator's public keys, fetched and kept. Unlike jose's remote set, the last good set
 * never expires: tokens are verified locally so that uploads go on while the coordinator is
 * down, and a key set that was valid a minute ago still is. It is refreshed periodically, on an
 * unknown `kid` (key rotation; at most once per cooldown, so made-up kids cannot flood the
 * coordinator), and persisted so a node restarted during a coordinator outage still verifies.
 */
export class CoordinatorKeys {
  private local: JWTVerifyGetKey | undefined;
  private lastAttempt = 0;
  private inflight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly opts: {
      url: string;
      cacheFile: string;
      logger: Logger;
      refreshMs?: number;
      cooldownMs?: number;
      timeoutMs?: number;
    },
  ) {
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
      this.opts.logger.warn({ err: (err as Error).message, url: this.opts.url }, 'cannot fetch the coordinator keys; keeping the last set');
    }
  }

  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    if (!this.local) await this.refresh();
    if (!this.local) throw errors.unavailable('jwks_unavailable', 'cannot fetch the coordinator keys');
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
  };
}
