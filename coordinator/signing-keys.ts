import type { KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { loadOrCreateEd25519Key } from '../shared/keys.js';

/** A published Ed25519 public key (RFC 8037 OKP JWK). */
export interface PublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

export interface SigningKeys {
  /** The kid of the key that signs new tokens (the lexicographically last file). */
  kid: string;
  privateKey: KeyObject;
  /** Every key in the directory, so tokens signed before a rotation still verify. */
  jwks: { keys: PublicJwk[] };
}

const PEM = /^([A-Za-z0-9._-]+)\.pem$/;

/** `k-yyyymmddHHMMss` in UTC: sorts in time order, which is what "newest signs" relies on. */
export function newKid(date: Date = new Date()): string {
  return `k-${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}`;
}

function kids(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((f) => PEM.exec(f)?.[1])
    .filter((k): k is string => k !== undefined)
    .sort();
}

/** Adds a key newer than every existing one and returns its kid (the `rotate-key` command). */
export function addSigningKey(dir: string, now: Date = new Date()): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const existing = kids(dir);
  let kid = newKid(now);
  // Two rotations in one second: a suffix still sorts after the plain kid.
  for (let i = 1; existing.includes(kid) || (existing.length > 0 && kid <= existing.at(-1)!); i++)
    kid = `${newKid(now)}-${String(i).padStart(3, '0')}`;
  loadOrCreateEd25519Key(path.join(dir, `${kid}.pem`));
  return kid;
}

/** Loads all signing keys, creating the first one when the directory has none. */
export function loadSigningKeys(dir: string): SigningKeys {
  if (kids(dir).length === 0) addSigningKey(dir);
  const all = kids(dir).map((kid) => ({ kid, ...loadOrCreateEd25519Key(path.join(dir, `${kid}.pem`)) }));
  const current = all.at(-1)!;
  return {
    kid: current.kid,
    privateKey: current.privateKey,
    jwks: {
      keys: all.map((k) => ({ ...k.publicJwk, kid: k.kid, alg: 'EdDSA' as const, use: 'sig' as const })),
    },
  };
}
