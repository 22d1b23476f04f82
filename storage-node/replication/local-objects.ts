import path from 'node:path';
import type { VariantFileInfo } from '../../shared/api.js';
import type { CopyDeleted, ReplicaMeta } from '../../shared/replication.js';
import { nodeObjects } from '../db/objects.js';
import type { Db } from '../db/open.js';
import { outboxTable } from '../db/outbox.js';
import type { ObjectRow } from '../db/store.js';

/** An object as the node's SQLite has it, with what a copy of it needs. */
export interface LocalObject extends ObjectRow {
  status: 'processing' | 'ready' | 'failed';
  width: number | null;
  height: number | null;
  format: string | null;
  /** JSON array of VariantFileInfo. */
  variants: string;
  scrub_state: 'ok' | 'missing' | 'mismatch' | null;
  last_scrub_at: number | null;
}

export function variantsOf(o: LocalObject): VariantFileInfo[] {
  return JSON.parse(o.variants) as VariantFileInfo[];
}

/** Every file of an object, relative to its pool: the original and the variants made so far. */
export function filesOf(o: LocalObject): string[] {
  return [o.rel_path, ...variantsOf(o).map((v) => v.rel_path)];
}

export function absPath(poolPath: string, rel: string): string {
  return path.join(poolPath, ...rel.split('/'));
}

/**
 * The record a copy carries. `withVariants`: the variant files travel too (a pool move), so the
 * target takes this state as it is; otherwise it regenerates them (replication, repair).
 */
export function replicaMeta(o: LocalObject, withVariants: boolean): ReplicaMeta {
  const copyState = withVariants && o.status !== 'processing';
  return {
    image_uuid: o.uuid,
    session_id: o.session_id,
    user_id: o.user_id,
    mime: o.mime,
    created_at: o.created_at,
    status: copyState ? o.status : 'processing',
    width: copyState ? o.width : null,
    height: copyState ? o.height : null,
    format: copyState ? o.format : null,
    variants: copyState ? variantsOf(o) : null,
  };
}

/**
 * The copy jobs' SQL in the worker process (prepared once). Removal and its `copy.deleted`
 * report commit together, so the coordinator hears of every copy that went and of none that did not.
 */
export function localObjects(db: Db, nodeId: string) {
  const get = db.prepare('SELECT * FROM objects WHERE uuid = ?');
  const objects = nodeObjects(db);
  const outbox = outboxTable(db);
  const forget = db.transaction((ref: { uuid: string; pool_id: string }, report: boolean) => {
    objects.removeFromPool(ref.uuid, ref.pool_id);
    if (!report) return;
    const now = Date.now();
    const payload: CopyDeleted = { image_uuid: ref.uuid, node_id: nodeId, pool_id: ref.pool_id, at: new Date(now).toISOString() };
    outbox.add('copy.deleted', payload, now);
  });
  return {
    get: (uuid: string) => get.get(uuid) as LocalObject | undefined,
    forget,
    setPool: (uuid: string, poolId: string) => objects.setPool(uuid, poolId, new Date().toISOString()),
  };
}
