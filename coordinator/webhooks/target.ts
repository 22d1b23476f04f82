import dns from 'node:dns';
import type { LookupFunction } from 'node:net';
import { isLoopbackHost, isPublicAddress, parseIPv4, parseIPv6 } from '../../shared/ip-address.js';

/**
 * Where webhooks may go. An app's webhook URL is set by the admin, but the coordinator POSTs to
 * it from inside the operator's network: without a check, `http://169.254.169.254/…` (cloud
 * metadata), `http://127.0.0.1:6379` (Redis) or a LAN address is one admin call away from a
 * request the coordinator makes on the attacker's behalf. Loopback, private, link-local,
 * unique-local, multicast and reserved targets are refused unless the operator allows them
 * (FENNEC_WEBHOOK_ALLOW_PRIVATE: a local cluster, an app on the same private network).
 */
export interface WebhookTargetPolicy {
  /** Allow non-public targets (FENNEC_WEBHOOK_ALLOW_PRIVATE). */
  allowPrivate?: boolean;
}

/** The error code of a refused webhook URL (400 at the admin API, the reason of a dead row). */
export const WEBHOOK_URL_REFUSED = 'webhook_url_not_public';

/**
 * Why `url` may not receive webhooks, or undefined when it may as far as its spelling tells:
 * http(s) only; a literal IP must be public; `localhost` names are this machine. A DNS name can
 * point anywhere — the delivery checks the address it actually connects to (publicOnlyLookup).
 */
export function webhookUrlProblem(url: string, policy: WebhookTargetPolicy = {}): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `${url} is not a URL`;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return `a webhook URL is http or https, not ${parsed.protocol}`;
  if (policy.allowPrivate) return undefined;
  const host = parsed.hostname;
  const literal = parseIPv4(host) ?? parseIPv6(host);
  if (isLoopbackHost(host) || (literal && !isPublicAddress(host)))
    return `${host} is not a public address (loopback, private, link-local or reserved); webhooks go to public hosts unless FENNEC_WEBHOOK_ALLOW_PRIVATE=1`;
  return undefined;
}

/** dns.lookup's shape with `all: true`, so tests can resolve names without a DNS server. */
export type ResolveAll = (hostname: string, callback: (err: Error | null, addresses: dns.LookupAddress[]) => void) => void;

const systemResolveAll: ResolveAll = (hostname, callback) => dns.lookup(hostname, { all: true }, callback);

/**
 * A `lookup` for the webhook connections (undici passes it to net/tls.connect) that refuses a
 * name resolving to any non-public address. Checked on the address the socket is about to use,
 * not on an earlier resolution, so a name cannot pass the check and then rebind to 127.0.0.1.
 */
export function publicOnlyLookup(resolveAll: ResolveAll = systemResolveAll): LookupFunction {
  return (hostname, options, callback) => {
    resolveAll(hostname, (err, addresses) => {
      if (err) {
        callback(err, '', 0);
        return;
      }
      const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
      const wanted = addresses.filter((a) => !family || a.family === family);
      const blocked = wanted.find((a) => !isPublicAddress(a.address));
      if (blocked || wanted.length === 0) {
        const why = blocked
          ? `${hostname} resolves to ${blocked.address}, not a public address (FENNEC_WEBHOOK_ALLOW_PRIVATE=1 allows it)`
          : `${hostname} has no address of the wanted family`;
        const refused = Object.assign(new Error(why), { code: WEBHOOK_URL_REFUSED });
        callback(refused, '', 0);
        return;
      }
      if (options.all) (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, wanted);
      else callback(null, wanted[0]!.address, wanted[0]!.family);
    });
  };
}
