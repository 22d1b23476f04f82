import { generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, exportJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { isAppError } from './errors.js';
import { signUrl, verifySignedUrl } from './signed-url.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const jwks = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'EdDSA' }] });
const signing = { key: privateKey, kid: 'k1' };
const FILE = 'https://s01.example.com/uploads/private/original/2026/11/22/0b7c5f0e-1b7e-4c55-9a3e-2f1d2f8a6b11.jpg';

async function check(url: string, now?: number) {
  const u = new URL(url);
  try {
    return await verifySignedUrl(u.pathname, u.searchParams, jwks, now);
  } catch (err) {
    if (isAppError(err)) return `${err.status} ${err.code}`;
    throw err;
  }
}

describe('signed URLs', () => {
  it('a URL signed by a JWKS key verifies until its exp', async () => {
    const now = Date.UTC(2026, 10, 22, 12);
    const url = signUrl(FILE, signing, { ttlSeconds: 600, now });
    expect(new URL(url).searchParams.get('exp')).toBe(String(now / 1000 + 600));
    expect(await check(url, now)).toBe(now / 1000 + 600);
    expect(await check(url, now + 599_000)).toBe(now / 1000 + 600);
    expect(await check(url, now + 600_000)).toBe('403 url_expired');
  });

  it('binds the path: another file, a prefix or a changed exp is refused', async () => {
    const url = new URL(signUrl(FILE, signing, { ttlSeconds: 600 }));
    const other = new URL(url);
    other.pathname = other.pathname.replace('.jpg', '.png');
    expect(await check(other.toString())).toBe('403 url_signature_invalid');
    const later = new URL(url);
    later.searchParams.set('exp', String(Number(url.searchParams.get('exp')) + 3600));
    expect(await check(later.toString())).toBe('403 url_signature_invalid');
    const tampered = new URL(url);
    const sig = tampered.searchParams.get('sig')!;
    tampered.searchParams.set('sig', `${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`);
    expect(await check(tampered.toString())).toBe('403 url_signature_invalid');
  });

  it('refuses unsigned URLs, unknown kids, foreign keys and malformed parameters', async () => {
    expect(await check(FILE)).toBe('403 url_unsigned');
    const foreign = signUrl(FILE, { key: other.privateKey, kid: 'k1' }, { ttlSeconds: 600 });
    expect(await check(foreign)).toBe('403 url_signature_invalid');
    const unknownKid = signUrl(FILE, { key: privateKey, kid: 'k2' }, { ttlSeconds: 600 });
    expect(await check(unknownKid)).toBe('403 url_signature_invalid');
    expect(await check(`${FILE}?exp=abc&kid=k1&sig=${'A'.repeat(86)}`)).toBe('403 url_signature_invalid');
  });

  it('extra query parameters do not matter; the signature covers path and exp only', async () => {
    const url = new URL(signUrl(FILE, signing, { ttlSeconds: 600 }));
    url.searchParams.set('download', '1');
    expect(typeof (await check(url.toString()))).toBe('number');
  });
});
