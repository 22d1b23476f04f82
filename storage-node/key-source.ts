import { ConfigError } from '../shared/config.js';
import { isLoopbackHost } from '../shared/ip-address.js';

/** The setting that lets a node fetch keys over plain http from another host (a private network without TLS). */
export const ALLOW_INSECURE_KEYS_ENV = 'FENNEC_ALLOW_INSECURE_KEYS';

/**
 * Why fetching verification keys from `url` is unsafe, or undefined when it is fine: https
 * anywhere; http only to this machine (localhost, 127.0.0.0/8, ::1) unless `allowInsecure`.
 * Whoever can rewrite the coordinator's JWKS in transit can mint upload tokens the node accepts,
 * and whoever can rewrite the node-key list can forge a peer's replication PUTs — TLS (or a
 * pinned FENNEC_JWKS_FILE) is what makes those keys the coordinator's.
 *
 * `what` names the setting in the message (e.g. `FENNEC_JWKS_URL`), so the config validation can
 * list it with every other bad value.
 */
export function keySourceProblem(what: string, url: string, allowInsecure = false): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `${what}: ${url} is not a URL`;
  }
  if (parsed.protocol === 'https:') return undefined;
  if (parsed.protocol !== 'http:') return `${what}: keys are fetched over https (or http to this machine), not ${parsed.protocol}`;
  if (allowInsecure || isLoopbackHost(parsed.hostname)) return undefined;
  return (
    `${what}: ${parsed.origin} is plain http to another host, so anyone on the path could replace the keys; ` +
    `use https (the JWKS may also be pinned with FENNEC_JWKS_FILE; the node keys always come from FENNEC_COORDINATOR_URL), or set ${ALLOW_INSECURE_KEYS_ENV}=1 on a private network you trust`
  );
}

/** Throws a ConfigError (the binary's start-up failure) when `keySourceProblem` finds one. */
export function assertSecureKeySource(what: string, url: string, allowInsecure = false): void {
  const problem = keySourceProblem(what, url, allowInsecure);
  if (problem) throw new ConfigError([problem]);
}
