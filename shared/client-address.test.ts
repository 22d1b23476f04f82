import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientAddress } from './client-address.js';

const req = (peer: string, realIp?: string) =>
  ({ socket: { remoteAddress: peer }, headers: realIp === undefined ? {} : { 'x-real-ip': realIp } }) as unknown as IncomingMessage;

describe('clientAddress', () => {
  it('takes X-Real-IP only from a loopback peer (the local nginx)', () => {
    expect(clientAddress(req('127.0.0.1', '203.0.113.9'))).toBe('203.0.113.9');
    expect(clientAddress(req('::1', '2001:db8::1'))).toBe('2001:db8::1');
    expect(clientAddress(req('198.51.100.7', '203.0.113.9'))).toBe('198.51.100.7');
  });

  it('ignores a missing or malformed header', () => {
    expect(clientAddress(req('127.0.0.1'))).toBe('127.0.0.1');
    expect(clientAddress(req('127.0.0.1', 'evil, 1.2.3.4'))).toBe('127.0.0.1');
  });
});
