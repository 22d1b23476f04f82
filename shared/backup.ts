import { z } from 'zod';

/**
 * The wire contract of S3 backups: what a node reports to the coordinator once an original is
 * in the pool's bucket (through its outbox, signed, retried until acknowledged), and the key
 * layout both sides agree on.
 */

/** `{prefix}/YYYY/MM/DD/{uuid}.{ext}`: the day path of the original's own path, so keys sort by upload day. */
export function backupKey(prefix: string, originalRelPath: string): string {
  const m = /^(?:private\/)?original\/(\d{4}\/\d{2}\/\d{2}\/[^/]+)$/.exec(originalRelPath);
  if (!m) throw new Error(`not an original path: ${originalRelPath}`);
  const p = prefix.replace(/^\/+|\/+$/g, '');
  return p ? `${p}/${m[1]}` : m[1]!;
}

/** Outbox kind and token purpose; route on the coordinator. */
export const BACKUP_STORED = 'backup.stored';
export const BACKUP_STORED_ROUTE = '/api/internal/backups/stored';

/** A node put (or found) an original in its pool's bucket with the right SHA-256. */
export const backupStoredSchema = z.object({
  image_uuid: z.string().uuid(),
  node_id: z.string().min(1),
  pool_id: z.string().min(1),
  bucket: z.string().min(1),
  key: z.string().min(1),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  at: z.string(),
});
export type BackupStored = z.infer<typeof backupStoredSchema>;

/** Outbox kind: a backup was scheduled with a delay (the ledger shows the unprotected window). */
export const BACKUP_SCHEDULED = 'backup.scheduled';
export const BACKUP_SCHEDULED_ROUTE = '/api/internal/backups/scheduled';
export const backupScheduledSchema = z.object({
  image_uuid: z.string().uuid(),
  node_id: z.string().min(1),
  pool_id: z.string().min(1),
  due_at: z.string(),
});
export type BackupScheduled = z.infer<typeof backupScheduledSchema>;
