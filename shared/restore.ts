import { z } from 'zod';
import { sha256HexSchema } from './api.js';

/**
 * The wire contract of `fennec-node restore`: the node asks the coordinator, page by page, which
 * originals belong on one of its pools and are safe in S3, then fetches them from the bucket.
 */

/** Token purpose of the list request (a GET: the token binds the empty body and the URL). */
export const RESTORE_LIST = 'restore.list';

/** `GET {RESTORE_LIST_ROUTE}?since=ISO&after=UUID&limit=N`, with `:pool_id` filled in. */
export const RESTORE_LIST_ROUTE = '/api/internal/pools/:pool_id/restore-list';

export const RESTORE_LIST_DEFAULT_LIMIT = 200;
export const RESTORE_LIST_MAX_LIMIT = 1000;

export function restoreListPath(poolId: string): string {
  return RESTORE_LIST_ROUTE.replace(':pool_id', encodeURIComponent(poolId));
}

/** One original to bring back: its record as the coordinator keeps it, and where S3 has it. */
export const restoreItemSchema = z.object({
  image_uuid: z.string().uuid(),
  rel_path: z.string().min(1),
  size: z.number().int().nonnegative(),
  sha256: sha256HexSchema,
  mime: z.string().min(1),
  user_id: z.string().min(1),
  session_id: z.string().min(1),
  /** ISO 8601. */
  created_at: z.string(),
  bucket: z.string().min(1),
  key: z.string().min(1),
});
export type RestoreItem = z.infer<typeof restoreItemSchema>;

/** Ordered by image_uuid; `next_after` is the cursor of the next page, null after the last one. */
export const restorePageSchema = z.object({
  items: z.array(restoreItemSchema),
  next_after: z.string().uuid().nullable(),
});
export type RestorePage = z.infer<typeof restorePageSchema>;
