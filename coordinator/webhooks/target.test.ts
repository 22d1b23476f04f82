import type { LookupAddress } from 'node:dns';
import { describe, expect, it } from 'vitest';
import { publicOnlyLookup, WEBHOOK_URL_REFUSED, webhookUrlProblem } from './target.js';

describe('webhookUrlProblem', () => {
  it('refuses loopback, private and link-local literals and localhost names', () => {
    for (const url of [
      'http://169.254.169.254/latest/meta-data/',
      'http://127.0.0.1:6379/',
      'http://10.0.0.7/hook',
      'http://192.168.1.10/hook',
      'http://[::1]/hook',
      'http://[fe80::1]/hook',
      'http://[fd00::1]/hook',
      'http://[::ffff:169.254.169.254]/hook',
      'http://localhost:8080/hook',
      'http://0.0.0.0/hook',
    ])
      expect(webhookUrlProblem(url), url).toContain('not a public address');
    expect(webhookUrlProblem('ftp://example.com/')).toContain('http or https');
  });

  it('accepts public literals and names (a name is checked when delivering), and anything when allowed', () => {
    for (const url of ['https://hooks.example.com/fennec', 'http://93.184.216.34/hook', 'https://[2606:4700:4700::1111]/'])
      expect(webhookUrlProblem(url), url).toBeUndefined();
    expect(webhookUrlProblem('http://127.0.0.1:9/hook', { allowPrivate: true })).toBeUndefined();
  });
});

describe('publicOnlyLookup', () => {
  const lookupWith = (addresses: LookupAddress[], all: boolean) =>
    new Promise<{ err: NodeJS.ErrnoException | null; result: unknown }>((resolve) => {
      const lookup = publicOnlyLookup((_host, cb) => cb(null, addresses));
      lookup('hooks.example', { all }, (err, address, family) => resolve({ err, result: all ? address : { address, family } }));
    });

  it('passes public addresses through, in both callback shapes', async () => {
    const pub: LookupAddress[] = [
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1::1', family: 6 },
    ];
    expect(await lookupWith(pub, true)).toEqual({ err: null, result: pub });
    expect(await lookupWith(pub, false)).toEqual({ err: null, result: { address: '93.184.216.34', family: 4 } });
  });

  it('refuses a name with any non-public address among its records', async () => {
    const mixed: LookupAddress[] = [
      { address: '93.184.216.34', family: 4 },
      { address: '169.254.169.254', family: 4 },
    ];
    const { err } = await lookupWith(mixed, true);
    expect(err?.code).toBe(WEBHOOK_URL_REFUSED);
    expect(err?.message).toContain('169.254.169.254');
  });
});
