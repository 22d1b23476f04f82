import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** An Ed25519 key pair loaded from (or created as) a PKCS#8 PEM file. */
export interface Ed25519Key {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** Public JWK (`{kty: 'OKP', crv: 'Ed25519', x}`), what the coordinator registers and publishes. */
  publicJwk: { kty: 'OKP'; crv: 'Ed25519'; x: string };
}

export function ed25519FromPrivate(privateKey: KeyObject): Ed25519Key {
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('key is not Ed25519');
  const publicKey = createPublicKey(privateKey);
  const jwk = publicKey.export({ format: 'jwk' });
  return { privateKey, publicKey, publicJwk: { kty: 'OKP', crv: 'Ed25519', x: String(jwk.x) } };
}

/** Imports a registered public JWK; throws on anything but an Ed25519 OKP key. */
export function ed25519PublicFromJwk(jwk: { kty?: unknown; crv?: unknown; x?: unknown }): KeyObject {
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string')
    throw new Error('expected an Ed25519 public JWK {kty: "OKP", crv: "Ed25519", x}');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
}

/**
 * Loads the key at `file`, creating it (mode 0600, written to a temp name then renamed so a
 * crash never leaves half a key) when absent. Returns whether it was created.
 */
export function loadOrCreateEd25519Key(file: string): Ed25519Key & { created: boolean } {
  if (existsSync(file)) {
    return { ...ed25519FromPrivate(createPrivateKey(readFileSync(file))), created: false };
  }
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ed25519');
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flush: true });
  renameSync(tmp, file);
  return { ...ed25519FromPrivate(privateKey), created: true };
}
