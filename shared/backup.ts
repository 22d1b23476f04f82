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

/** Report kinds (outbox kind and token purpose; the routes are in shared/reports.ts). */
export const BACKUP_STORED = 'backup.stored';

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
export const backupScheduledSchema = z.object({
  image_uuid: z.string().uuid(),
  node_id: z.string().min(1),
  pool_id: z.string().min(1),
  due_at: z.string(),
});
export type BackupScheduled = z.infer<typeof backupScheduledSchema>;

/**
 * The key of a variant's backup beside its original's: the same day path, the variant's file
 * name (what the node's backup job writes when a pool backs up variants).
 */
export function variantKeyBeside(originalKey: string, variantRelPath: string): string {
  const dir = originalKey.includes('/') ? originalKey.slice(0, originalKey.lastIndexOf('/') + 1) : '';
  return `${dir}${variantRelPath.slice(variantRelPath.lastIndexOf('/') + 1)}`;
}

/** Outbox kind: a deleted image's backup keys were removed from the bucket (after the grace period). */
export const BACKUP_DELETED = 'backup.deleted';
export const backupDeletedSchema = z.object({
  image_uuid: z.string().uuid(),
  node_id: z.string().min(1),
  pool_id: z.string().min(1),
  bucket: z.string().min(1),
  keys: z.array(z.string().min(1)).min(1),
  at: z.string(),
});
export type BackupDeleted = z.infer<typeof backupDeletedSchema>;
