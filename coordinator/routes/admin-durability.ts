import { Hono } from 'hono';
import type { CoordinatorEnv } from '../auth.js';
import type { ProtectionClass } from '../db/backups.js';
import type { CoordinatorDeps } from '../deps.js';
import { DEFAULT_BACKUP_DELETE_GRACE_MS } from '../durability/deletions.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** "2 copies + S3", "1 copy, backup pending until …", "0 copies, no backup (lost)", "S3 cold tier". */
export function protectionLabel(k: Pick<ProtectionClass, 'copies' | 's3' | 'latest_due_at' | 'cold'>): string {
  const copies = `${k.copies} ${k.copies === 1 ? 'copy' : 'copies'}`;
  if (k.cold) return k.copies === 0 ? 'S3 cold tier' : `S3 cold tier + ${copies} on disk`;
  if (k.s3 === 'yes') return `${copies} + S3`;
  const lost = k.copies === 0 ? ' (lost)' : '';
  if (k.s3 === 'pending') return `${copies}, backup pending until ${iso(k.latest_due_at)}${lost}`;
  return `${copies}, no backup${lost}`;
}

function deletedSummary(deps: CoordinatorDeps, now: number) {
  const graceSeconds = deps.settings.backupDeleteGraceSeconds ?? DEFAULT_BACKUP_DELETE_GRACE_MS / 1000;
  const d = deps.repos.deletions.summary(now, graceSeconds * 1000);
  return { ...d, next_backup_delete_at: iso(d.next_backup_delete_at), backup_grace_seconds: graceSeconds };
}

/**
 * `GET /durability[?pool_id=]`: objects by protection — good copies on nodes in service plus
 * S3 — so the operator sees the window a backup delay leaves open. Mounted under the admin key.
 */
export function adminDurabilityRoutes(deps: CoordinatorDeps) {
  const { repos } = deps;
  const app = new Hono<CoordinatorEnv>();

  app.get('/durability', (c) => {
    const poolId = c.req.query('pool_id') || null;
    const now = Date.now();
    const classes = repos.backups.protection(now, poolId);
    const scrubs = repos.backups.scrubs(poolId);
    return c.json({
      pool_id: poolId,
      objects: classes.reduce((n, k) => n + k.objects, 0),
      bytes: classes.reduce((n, k) => n + k.bytes, 0),
      classes: classes.map((k) => ({
        protection: protectionLabel(k),
        copies: k.copies,
        s3: k.s3 === 'yes' ? true : k.s3 === 'no' ? false : ('pending' as const),
        cold: k.cold === 1,
        // Fewer than two independent places: one failure from gone (or gone already). An object in
        // the S3 cold tier lives where the operator chose to keep it: the bucket's own durability.
        at_risk: !k.cold && k.copies + (k.s3 === 'yes' ? 1 : 0) < 2,
        lost: !k.cold && k.copies === 0 && k.s3 !== 'yes',
        objects: k.objects,
        bytes: k.bytes,
        ...(k.s3 === 'pending' ? { oldest_due_at: iso(k.oldest_due_at), latest_due_at: iso(k.latest_due_at), overdue: k.overdue } : {}),
      })),
      // Deleted images still being cleaned up: files on nodes, then backups after the grace period.
      deleted: deletedSummary(deps, now),
      unscrubbed_copies: scrubs.unscrubbed,
      oldest_scrub_at: iso(scrubs.oldest_scrub_at),
      generated_at: new Date(now).toISOString(),
    });
  });
  return app;
}
