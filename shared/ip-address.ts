import { isIP } from 'node:net';

/**
 * IP address arithmetic the per-IP limits, the webhook SSRF guard and the key-source check share.
 * Node's `net` validates addresses but neither normalises IPv6 (`::` compression, zone ids, case,
 * an embedded dotted IPv4) nor classifies them, and a check that compares spellings is bypassed
 * by the first respelling (`0:0::1`, `::FFFF:7f00:1`, `[fe80::1%eth0]`).
 */

/** An IPv4 address as four octets, or undefined when `text` is not one. */
export function parseIPv4(text: string): number[] | undefined {
  if (isIP(text) !== 4) return undefined;
  return text.split('.').map(Number);
}

/** Strips URL brackets and a zone id (`fe80::1%eth0`): neither is part of the address. */
function bareIPv6(text: string): string {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  return (zone >= 0 ? s.slice(0, zone) : s).toLowerCase();
}

/** An IPv6 address as eight 16-bit groups, in any spelling; undefined when `text` is not one. */
export function parseIPv6(text: string): number[] | undefined {
  const s = bareIPv6(text);
  if (isIP(s) !== 6) return undefined;
  const groupsOf = (part: string): number[] => {
    if (part === '') return [];
    return part.split(':').flatMap((g) => {
      const v4 = parseIPv4(g);
      return v4 ? [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!] : [Number.parseInt(g, 16)];
    });
  };
  const gap = s.indexOf('::');
  if (gap < 0) return groupsOf(s);
  const head = groupsOf(s.slice(0, gap));
  const tail = groupsOf(s.slice(gap + 2));
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** The IPv4 address an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) carries; undefined otherwise. */
function mappedIPv4(groups: number[]): number[] | undefined {
  if (groups.slice(0, 5).some((g) => g !== 0) || groups[5] !== 0xffff) return undefined;
  return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff];
}

/**
 * The bucket a client's address counts against in per-IP limits. IPv4 (and IPv4-mapped IPv6,
 * which is how a dual-stack socket reports an IPv4 peer) is one address; native IPv6 is its /64:
 * a single subscriber is routinely given a whole /64 and can pick a fresh address from it for
 * every request. Anything unparseable is returned as it is.
 */
export function addressBucket(address: string): string {
  if (parseIPv4(address)) return address;
  const groups = parseIPv6(address);
  if (!groups) return address;
  const v4 = mappedIPv4(groups);
  if (v4) return v4.join('.');
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

type V4Range = [a: number, b: number, c: number, d: number, bits: number];

/** IPv4 ranges that are not a host on the public internet (RFC 6890 and friends). */
const V4_NON_PUBLIC: V4Range[] = [
  [0, 0, 0, 0, 8], // "this network"
  [10, 0, 0, 0, 8], // private
  [100, 64, 0, 0, 10], // carrier-grade NAT
  [127, 0, 0, 0, 8], // loopback
  [169, 254, 0, 0, 16], // link-local, cloud metadata (169.254.169.254)
  [172, 16, 0, 0, 12], // private
  [192, 0, 0, 0, 24], // IETF protocol assignments
  [192, 0, 2, 0, 24], // documentation
  [192, 168, 0, 0, 16], // private
  [198, 18, 0, 0, 15], // benchmarking
  [198, 51, 100, 0, 24], // documentation
  [203, 0, 113, 0, 24], // documentation
  [224, 0, 0, 0, 4], // multicast
  [240, 0, 0, 0, 4], // reserved, broadcast
];

const v4Number = (o: number[]) => ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;

function inV4Range(octets: number[], [a, b, c, d, bits]: V4Range): boolean {
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (v4Number(octets) & mask) >>> 0 === (v4Number([a, b, c, d]) & mask) >>> 0;
}

function isPublicIPv4(octets: number[]): boolean {
  return !V4_NON_PUBLIC.some((r) => inV4Range(octets, r));
}

function isPublicIPv6(g: number[]): boolean {
  const v4 = mappedIPv4(g);
  if (v4) return isPublicIPv4(v4);
  // NAT64 (64:ff9b::/96) reaches the IPv4 address it embeds.
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0))
    return isPublicIPv4([g[6]! >> 8, g[6]! & 0xff, g[7]! >> 8, g[7]! & 0xff]);
  // ::/96 (unspecified, loopback, the deprecated IPv4-compatible form) and the discard prefix.
  if (g.slice(0, 6).every((x) => x === 0)) return false;
  const first = g[0]!;
  if ((first & 0xfe00) === 0xfc00) return false; // unique local fc00::/7
  if ((first & 0xffc0) === 0xfe80) return false; // link-local fe80::/10
  if ((first & 0xffc0) === 0xfec0) return false; // site-local fec0::/10 (deprecated, still routed inside some networks)
  if ((first & 0xff00) === 0xff00) return false; // multicast ff00::/8
  if (first === 0x2001 && g[1] === 0x0db8) return false; // documentation 2001:db8::/32
  if (first === 0x0100 && g.slice(1, 4).every((x) => x === 0)) return false; // discard 100::/64
  return true;
}

/**
 * Whether an IP address (v4 or v6, any spelling) is a host on the public internet: false for
 * loopback, private, carrier-grade NAT, link-local (cloud metadata), unique-local, multicast,
 * documentation and reserved ranges, and for IPv4-mapped / NAT64 forms of those. Throws on a
 * string that is not an IP address.
 */
export function isPublicAddress(address: string): boolean {
  const v4 = parseIPv4(address.trim());
  if (v4) return isPublicIPv4(v4);
  const v6 = parseIPv6(address);
  if (v6) return isPublicIPv6(v6);
  throw new TypeError(`not an IP address: ${address}`);
}

/**
 * Whether a URL host names this machine: `localhost` (and `*.localhost`, RFC 6761), 127.0.0.0/8,
 * `::1`, or an IPv4-mapped loopback address. Bracketed IPv6 hosts (`new URL().hostname`) are fine.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/\.$/, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  const v4 = parseIPv4(h);
  if (v4) return v4[0] === 127;
  const v6 = parseIPv6(h);
  if (!v6) return false;
  const mapped = mappedIPv4(v6);
  if (mapped) return mapped[0] === 127;
  return v6.slice(0, 7).every((x) => x === 0) && v6[7] === 1;
}
