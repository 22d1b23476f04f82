import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientAddress } from './client-address.js';

const req = (peer: string, realIp?: string) =>
  ({ socket: { remoteAddress: peer }, headers: realIp === undefined ? {} : { 'x-real-ip': realIp } }) as unknown as IncomingMessage;

describe('clientAddress', () => {
  it('takes X-Real-IP only from a loopback peer (the local nginx)', () => {
    expect(clientAddress(req('127.0.0.1', '203.0.113.9'))).toBe('203.0.113.9');
    expect(clientAddress(req('::1', '2001:db8::1'))).toBe('2001:db8:0:0::/64');
    expect(clientAddress(req('198.51.100.7', '203.0.113.9'))).toBe('198.51.100.7');
  });

  it('ignores a missing or malformed header', () => {
    expect(clientAddress(req('127.0.0.1'))).toBe('127.0.0.1');
    expect(clientAddress(req('127.0.0.1', 'evil, 1.2.3.4'))).toBe('127.0.0.1');
  });
});

describe('clientAddress buckets (issue 17: per-IP limits by full IPv6 address)', () => {
  it('keys a native IPv6 client by its /64, whatever the spelling, zone id or case', () => {
    const a = clientAddress(req('2001:db8:abcd:12::1'));
    expect(a).toBe('2001:db8:abcd:12::/64');
    // Another address of the same /64 is the same bucket: a client cannot rotate its way out.
    expect(clientAddress(req('2001:db8:abcd:12:ffff:1:2:3'))).toBe(a);
    expect(clientAddress(req('2001:0DB8:ABCD:0012:0000:0000:0000:0009'))).toBe(a);
    expect(clientAddress(req('fe80::1%eth0'))).toBe('fe80:0:0:0::/64');
    expect(clientAddress(req('::1', '2001:db8:abcd:12:aaaa::7'))).toBe(a);
    expect(clientAddress(req('2001:db8:abcd:13::1'))).not.toBe(a);
  });

  it('keeps IPv4 and IPv4-mapped IPv6 per address', () => {
    expect(clientAddress(req('198.51.100.7'))).toBe('198.51.100.7');
    expect(clientAddress(req('::ffff:198.51.100.7'))).toBe('198.51.100.7');
    expect(clientAddress(req('::ffff:c633:6408'))).toBe('198.51.100.8');
    expect(clientAddress(req('::ffff:127.0.0.1', '203.0.113.9'))).toBe('203.0.113.9');
  });
});
