import { describe, expect, it } from 'vitest';
import { addressBucket, isLoopbackHost, isPublicAddress, parseIPv6 } from './ip-address.js';

describe('parseIPv6', () => {
  it('reads every spelling of one address the same', () => {
    const want = [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1];
    for (const s of ['2001:db8::1', '2001:DB8:0:0::1', '2001:0db8:0000:0000:0000:0000:0000:0001', '[2001:db8::1]', '2001:db8::1%eth0'])
      expect(parseIPv6(s)).toEqual(want);
    expect(parseIPv6('::ffff:1.2.3.4')).toEqual([0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304]);
    expect(parseIPv6('::')).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(parseIPv6('1.2.3.4')).toBeUndefined();
    expect(parseIPv6('not:an:address')).toBeUndefined();
  });
});

describe('addressBucket', () => {
  it('is the address for IPv4, the /64 for IPv6, the IPv4 address for a mapped one', () => {
    expect(addressBucket('203.0.113.9')).toBe('203.0.113.9');
    expect(addressBucket('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(addressBucket('::FFFF:203.0.113.9')).toBe('203.0.113.9');
    expect(addressBucket('unknown')).toBe('unknown');
  });
});

describe('isPublicAddress', () => {
  it('refuses loopback, private, link-local, unique-local, multicast and their IPv6 disguises', () => {
    for (const a of [
      '127.0.0.1',
      '127.9.9.9',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '255.255.255.255',
      '::1',
      '::',
      '0:0:0:0:0:0:0:1',
      'fe80::1',
      'fe80::1%eth0',
      'fc00::1',
      'fd12:3456::1',
      'ff02::1',
      '::ffff:127.0.0.1',
      '::ffff:a9fe:a9fe',
      '::ffff:10.0.0.1',
      '64:ff9b::169.254.169.254',
      '::127.0.0.1',
    ])
      expect(isPublicAddress(a), a).toBe(false);
  });

  it('accepts public hosts', () => {
    for (const a of ['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::8.8.8.8'])
      expect(isPublicAddress(a), a).toBe(true);
  });

  it('throws on a name', () => {
    expect(() => isPublicAddress('example.com')).toThrow(TypeError);
  });
});

describe('isLoopbackHost', () => {
  it('is localhost, 127/8 and ::1 in any spelling, nothing else', () => {
    for (const h of ['localhost', 'LOCALHOST', 'api.localhost', '127.0.0.1', '127.1.2.3', '::1', '[::1]', '0:0::1', '::ffff:127.0.0.1'])
      expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ['coord', 'localhost.example.com', '10.0.0.1', '::', '::2', '128.0.0.1', 'fe80::1'])
      expect(isLoopbackHost(h), h).toBe(false);
  });
});
