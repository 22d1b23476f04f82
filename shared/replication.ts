import { z } from 'zod';
import { sha256HexSchema, variantFileSchema } from './api.js';

/**
 * The wire contract of copies between nodes (README "Copies: replication, scrub, self-repair, pool moves") and of the
 * copy reports nodes send the coordinator. Both binaries import it; neither owns it.
 */

/** `PUT {node base url}/api/internal/replicate/{pool_id}/{relative path}`. */
export const REPLICATE_ROUTE_PREFIX = '/api/internal/replicate/';
export function replicatePath(poolId: string, relPath: string): string {
  return `${REPLICATE_ROUTE_PREFIX}${poolId}/${relPath}`;
}

/** Header: SHA-256 (lowercase hex) of the body the sender streams. */
export const CONTENT_SHA256_HEADER = 'x-content-sha256';
/**
 * Header on the PUT of an original: the object's record (base64url JSON of ReplicaMeta), so the
 * target can record the file as its own. Bound into the token by its SHA-256 (`bind.meta`).
 * Variant files travel without it.
 */
export const OBJECT_META_HEADER = 'x-fennec-object';

/** Purpose (`sub`) of the token a sending node signs for one PUT; `aud` = the target node id. */
export const PURPOSE_REPLICATE = 'replicate.put';

/** What a replicate token is bound to besides the body's sha256. */
export interface ReplicateBind {
  [key: string]: string | number;
  pool: string;
  path: string;
  size: number;
  /** sha256 of the OBJECT_META_HEADER value, or '' when the PUT carries none (a variant file). */
  meta: string;
}

/**
 * The record that travels with an original. `variants: null` asks the target to regenerate
 * them locally from the original with its pool's recipe (replication: less traffic between VPS);
 * a list means the sender already PUT those files (a pool move copies them).
 */
export const replicaMetaSchema = z.object({
  image_uuid: z.string().uuid(),
  session_id: z.string().min(1),
  user_id: z.string().min(1),
  mime: z.string().min(1),
  created_at: z.string().min(1),
  status: z.enum(['processing', 'ready', 'failed']),
  width: z.number().int().positive().nullable(),
  height: z.number().int().positive().nullable(),
  format: z.string().nullable(),
  variants: z.array(variantFileSchema).nullable(),
});
export type ReplicaMeta = z.infer<typeof replicaMetaSchema>;

export function encodeMeta(meta: ReplicaMeta): string {
  return Buffer.from(JSON.stringify(meta)).toString('base64url');
}

/** Throws on anything that is not a ReplicaMeta (the caller maps it to 400). */
export function decodeMeta(header: string): ReplicaMeta {
  return replicaMetaSchema.parse(JSON.parse(Buffer.from(header, 'base64url').toString('utf8')));
}

/** Coordinator's published node identity keys (JWKS, `kid` = node id), fetched and cached by nodes. */
export const NODE_KEYS_PATH = '/.well-known/fennec-node-keys.json';

// ---- Copy reports: node → coordinator, through the node's outbox (shared/reports.ts) ----

/** A node now holds a verified original (a replica it received, or a repaired one). */
export const copyStoredSchema = z.object({
  image_uuid: z.string().uuid(),
  node_id: z.string().min(1),
  pool_id: z.string().min(1),
  rel_path: z.string().min(1),
  size: z.number().int().nonnegative(),
  sha256: sha256HexSchema,
  at: z.string(),
});
export type CopyStored = z.infer<typeof copyStoredSchema>;

/** Scrub found a node's original missing or with other bytes than recorded. */
export const copyCorruptSchema = z.object({
  image_uuid: z.string().uuid(),
  node_id: z.string().min(1),
  pool_id: z.string().min(1),
  reason: z.enum(['missing', 'mismatch']),
  at: z.string(),
});
export type CopyCorrupt = z.infer<typeof copyCorruptSchema>;

/** A node removed its copy (surplus after a node came back, or a deleted image). */
export const copyDeletedSchema = z.object({
  image_uuid: z.string().uuid(),
  node_id: z.string().min(1),
  pool_id: z.string().min(1),
  at: z.string(),
});
export type CopyDeleted = z.infer<typeof copyDeletedSchema>;

/** Scrub verified these originals (the durability ledger's "last scrub"). */
export const copiesScrubbedSchema = z.object({
  node_id: z.string().min(1),
  pool_id: z.string().min(1),
  image_uuids: z.array(z.string().uuid()).max(1000),
  at: z.string(),
});
export type CopiesScrubbed = z.infer<typeof copiesScrubbedSchema>;

// ---- Pool moves: the source node's move job asks the coordinator synchronously ----

/** Report `move.item` (shared/reports.ts), sent directly: the node waits for the MoveItemAnswer. */
export const moveItemReportSchema = z.object({
  move_id: z.string().min(1),
  image_uuid: z.string().uuid(),
  node_id: z.string().min(1),
  /**
   * `copied`: every file is at the target with a verified SHA-256 → switch the index.
   * `missing`: the source has no such file (reported, never retried). `failed`: given up.
   */
  outcome: z.enum(['copied', 'missing', 'failed']),
  target_pool_id: z.string().min(1),
  bytes: z.number().int().nonnegative(),
  error: z.string().max(500).nullable(),
});
export type MoveItemReport = z.infer<typeof moveItemReportSchema>;
/** The coordinator's answer: the source deletes its files only when told to (the index points away). */
export interface MoveItemAnswer {
  ok: true;
  delete_source: boolean;
}
