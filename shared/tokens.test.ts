import { generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, exportJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { sha256Hex, signNodeRequest, signUploadToken, verifyNodeRequest, verifyUploadToken } from './tokens.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');

async function jwks() {
  return createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'EdDSA' }] });
}

describe('upload tokens', () => {
  it('round-trips the claims for the right node', async () => {
    const token = await signUploadToken(
      { iss: 'fennec-coordinator', aud: 's01', sub: 'alice', pool: 'p1', sid: 'sess-1', max: 1000, ttlSeconds: 60 },
      privateKey,
      'k1',
    );
    const claims = await verifyUploadToken(token, await jwks(), { nodeId: 's01', clockToleranceSeconds: 5 });
    expect(claims).toMatchObject({ aud: 's01', sub: 'alice', pool: 'p1', jti: 'sess-1', sid: 'sess-1', max: 1000 });
    expect(claims.vis).toBeUndefined();
  });

  it('carries vis only for private uploads', async () => {
    const base = { iss: 'i', aud: 's01', sub: 'a', pool: 'p1', sid: 's', max: 1, ttlSeconds: 60 };
    const priv = await signUploadToken({ ...base, vis: 'private' }, privateKey, 'k1');
    expect((await verifyUploadToken(priv, await jwks(), { nodeId: 's01', clockToleranceSeconds: 5 })).vis).toBe('private');
    const pub = await signUploadToken({ ...base, vis: 'public' }, privateKey, 'k1');
    expect((await verifyUploadToken(pub, await jwks(), { nodeId: 's01', clockToleranceSeconds: 5 })).vis).toBeUndefined();
  });

  it('refuses another node, another signer, and an expired token with distinct codes', async () => {
    const token = await signUploadToken({ iss: 'i', aud: 's01', sub: 'a', pool: 'p1', sid: 's', max: 1, ttlSeconds: 60 }, privateKey, 'k1');
    await expect(verifyUploadToken(token, await jwks(), { nodeId: 's02', clockToleranceSeconds: 5 })).rejects.toMatchObject({
      status: 401,
      code: 'wrong_node',
    });
    const forged = await signUploadToken(
      { iss: 'i', aud: 's01', sub: 'a', pool: 'p1', sid: 's', max: 1, ttlSeconds: 60 },
      other.privateKey,
      'k1',
    );
    await expect(verifyUploadToken(forged, await jwks(), { nodeId: 's01', clockToleranceSeconds: 5 })).rejects.toMatchObject({
      status: 401,
      code: 'invalid_token',
    });
    const expired = await signUploadToken(
      { iss: 'i', aud: 's01', sub: 'a', pool: 'p1', sid: 's', max: 1, ttlSeconds: -120 },
      privateKey,
      'k1',
    );
    await expect(verifyUploadToken(expired, await jwks(), { nodeId: 's01', clockToleranceSeconds: 5 })).rejects.toMatchObject({
      status: 401,
      code: 'token_expired',
    });
  });
});

describe('node-signed requests', () => {
  it('are bound to the body, the purpose and the registered key', async () => {
    const body = '{"a":1}';
    const token = await signNodeRequest(
      { nodeId: 's01', audience: 'coord', purpose: 'upload.complete', sha256: sha256Hex(body) },
      privateKey,
    );
    const resolveNodeKey = (id: string) => (id === 's01' ? publicKey : undefined);
    await expect(
      verifyNodeRequest(token, { audience: 'coord', purpose: 'upload.complete', sha256: sha256Hex(body), resolveNodeKey }),
    ).resolves.toMatchObject({ iss: 's01' });
    await expect(
      verifyNodeRequest(token, { audience: 'coord', purpose: 'upload.complete', sha256: sha256Hex('{"a":2}'), resolveNodeKey }),
    ).rejects.toMatchObject({ status: 401 });
    await expect(
      verifyNodeRequest(token, { audience: 'coord', purpose: 'replicate', sha256: sha256Hex(body), resolveNodeKey }),
    ).rejects.toMatchObject({ status: 401 });
    await expect(
      verifyNodeRequest(token, {
        audience: 'coord',
        purpose: 'upload.complete',
        sha256: sha256Hex(body),
        resolveNodeKey: () => other.publicKey,
      }),
    ).rejects.toMatchObject({ status: 401 });
    await expect(
      verifyNodeRequest(token, { audience: 'coord', purpose: 'upload.complete', sha256: sha256Hex(body), resolveNodeKey: () => undefined }),
    ).rejects.toMatchObject({ status: 401, code: 'unknown_node' });
  });
});
