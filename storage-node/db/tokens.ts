import type { Db } from './open.js';

/** Upload-token ids already used (`used_tokens`): a token uploads one file. The only writer of the table. */
export interface UsedTokens {
  /** Claims a token id for one upload; false when it was already used. */
  claim(jti: string, exp: number): boolean;
  /** Gives a token back after a failed upload so the client can retry while it is valid. */
  release(jti: string): void;
  /** Forgets ids whose token expired before `nowSeconds` (they cannot be presented again). */
  prune(nowSeconds: number): number;
}

export function usedTokens(db: Db): UsedTokens {
  const claim = db.prepare('INSERT OR IGNORE INTO used_tokens (jti, exp) VALUES (?, ?)');
  const release = db.prepare('DELETE FROM used_tokens WHERE jti = ?');
  const prune = db.prepare('DELETE FROM used_tokens WHERE exp < ?');
  return {
    claim: (jti, exp) => claim.run(jti, exp).changes === 1,
    release: (jti) => void release.run(jti),
    prune: (nowSeconds) => prune.run(nowSeconds).changes,
  };
}
