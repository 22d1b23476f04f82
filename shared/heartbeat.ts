import { z } from 'zod';

/** One pool's capacity as the node measured it (statfs, capped by the pool's own limit). */
export const poolHeartbeatSchema = z.object({
  pool_id: z.string(),
  tier: z.string(),
  total_bytes: z.number().nonnegative(),
  free_bytes: z.number().nonnegative(),
  used_bytes: z.number().nonnegative(),
  accepting: z.boolean(),
  writable: z.boolean(),
  public_base_url: z.string(),
  /**
   * `s3`: a bucket behind the node (the S3 cold tier): never accepting uploads, its figures a
   * configured capacity. Absent = a disk pool (nodes from before s3 pools send none). A string,
   * not an enum: a type this coordinator does not know must not hide the node's other pools.
   */
  type: z.string().optional(),
  /** The bucket the pool backs up to (its node holds credentials for it); absent = no backup. */
  backup_bucket: z.string().optional(),
});
export type PoolHeartbeat = z.infer<typeof poolHeartbeatSchema>;

/** The payload of `{prefix}node:{node_id}`, rewritten every beat with a TTL of ~3 beats (expired = no new uploads). */
export const nodeHeartbeatSchema = z.object({
  node_id: z.string(),
  version: z.string(),
  upload_api_url: z.string(),
  tus_url: z.string(),
  /** Milliseconds since the epoch, node clock, when the figures were taken. */
  ts: z.number(),
  accepting: z.boolean(),
  active_uploads: z.number().int().nonnegative(),
  queue_depth: z.number().int().nonnegative(),
  pools: z.array(poolHeartbeatSchema),
});
export type NodeHeartbeat = z.infer<typeof nodeHeartbeatSchema>;

/**
 * Redis hashes hold strings: scalar fields are stored as themselves (readable with HGETALL),
 * pools as JSON.
 */
export function encodeHeartbeat(hb: NodeHeartbeat): Record<string, string> {
  return {
    node_id: hb.node_id,
    version: hb.version,
    upload_api_url: hb.upload_api_url,
    tus_url: hb.tus_url,
    ts: String(hb.ts),
    accepting: hb.accepting ? '1' : '0',
    active_uploads: String(hb.active_uploads),
    queue_depth: String(hb.queue_depth),
    pools: JSON.stringify(hb.pools),
  };
}

/** Returns undefined for an empty or malformed hash (a node from another version, a half-written key). */
export function decodeHeartbeat(hash: Record<string, string>): NodeHeartbeat | undefined {
  if (!hash.node_id) return undefined;
  try {
    const parsed = nodeHeartbeatSchema.safeParse({
      node_id: hash.node_id,
      version: hash.version,
      upload_api_url: hash.upload_api_url,
      tus_url: hash.tus_url,
      ts: Number(hash.ts),
      accepting: hash.accepting === '1',
      active_uploads: Number(hash.active_uploads),
      queue_depth: Number(hash.queue_depth),
      pools: JSON.parse(hash.pools ?? '[]'),
    });
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
