import type { KeyObject } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import { errors } from '../../shared/errors.js';
import { ed25519PublicFromJwk } from '../../shared/keys.js';
import { type NodeUploadUrls, nodeUploadUrls } from '../node-urls.js';
import type { ObjectsRepo } from './objects.js';
import { poolsChanged } from './pool-candidates.js';
import type { PoolsRepo } from './pools.js';

/** up: in service · down: unseen past the grace · lost: written off by the operator · draining → retired. */
export const NODE_STATES = ['up', 'down', 'lost', 'draining', 'retired'] as const;
export type NodeState = (typeof NODE_STATES)[number];

export interface NodeRow {
  node_id: string;
  public_key_x: string;
  upload_api_url: string;
  public_url: string | null;
  region: string | null;
  state: NodeState;
  last_seen_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface NodeInput {
  node_id: string;
  public_key_x: string;
  upload_api_url: string;
  public_url: string | null;
  region: string | null;
  replace_key: boolean;
}

/**
 * Registered storage nodes and their Ed25519 identity keys: the only code that writes `nodes`.
 * Placement reads node states too, so a state change or removal invalidates its cache here.
 */
export interface NodesRepo {
  get(nodeId: string): NodeRow | undefined;
  list(): NodeRow[];
  /** Idempotent registration; a different key for a known node needs `replace_key`. */
  upsert(input: NodeInput): { node: NodeRow; created: boolean };
  /**
   * Deregisters a node and its pools. Refused while the object index still lists files on it
   * (drain them first: losing the only copy must never be one call away) or while an upload
   * session placed on it is open (its completion would come from a node we no longer know).
   */
  remove(nodeId: string): void;
  /**
   * Compare-and-set of the lifecycle state (`from` guards against a concurrent admin call);
   * returns whether it changed.
   */
  transition(nodeId: string, from: NodeState, to: NodeState, now: number): boolean;
  markSeen(nodeId: string, now: number): void;
  /** The node's public key for verifying its requests; a miss re-reads SQLite. */
  publicKey(nodeId: string): KeyObject | undefined;
  /** Where a session on the node sends its client, from the registration (held in memory: sessions ask each time). */
  uploadUrls(nodeId: string): NodeUploadUrls | undefined;
}

export function nodesRepo(db: Database, w: { objects: ObjectsRepo; pools: PoolsRepo }): NodesRepo {
  const get = db.prepare('SELECT * FROM nodes WHERE node_id = ?');
  const all = db.prepare('SELECT * FROM nodes ORDER BY node_id');
  const insert = db.prepare(
    `INSERT INTO nodes (node_id, public_key_x, upload_api_url, public_url, region, created_at, updated_at)
     VALUES (@node_id, @public_key_x, @upload_api_url, @public_url, @region, @now, @now)`,
  );
  const update = db.prepare(
    `UPDATE nodes SET public_key_x = @public_key_x, upload_api_url = @upload_api_url,
       public_url = @public_url, region = @region, updated_at = @now WHERE node_id = @node_id`,
  );
  const copiesOn = db.prepare('SELECT count(*) FROM copies WHERE node_id = ?').pluck();
  const setState = db.prepare('UPDATE nodes SET state = ?, updated_at = ? WHERE node_id = ? AND state = ?');
  const seen = db.prepare('UPDATE nodes SET last_seen_at = ? WHERE node_id = ?');
  const openSessionsOn = db.prepare("SELECT count(*) FROM sessions WHERE node_id = ? AND state = 'open'").pluck();
  const deleteNode = db.prepare('DELETE FROM nodes WHERE node_id = ?');
  // Callback verification needs the key on every request; keys change only through upsert below.
  const keys = new Map<string, KeyObject>();
  const urls = new Map<string, NodeUploadUrls>();

  const repo: NodesRepo = {
    get(nodeId: string): NodeRow | undefined {
      return get.get(nodeId) as NodeRow | undefined;
    },
    list(): NodeRow[] {
      return all.all() as NodeRow[];
    },
    upsert(input: NodeInput): { node: NodeRow; created: boolean } {
      const { replace_key, ...fields } = input;
      const params = { ...fields, now: Date.now() };
      const existing = repo.get(input.node_id);
      if (!existing) {
        insert.run(params);
        return { node: repo.get(input.node_id)!, created: true };
      }
      if (existing.public_key_x !== input.public_key_x && !replace_key)
        throw errors.conflict(
          'node_key_conflict',
          `node ${input.node_id} is registered with another public key (send replace_key: true to replace it)`,
        );
      update.run(params);
      keys.delete(input.node_id);
      urls.delete(input.node_id);
      return { node: repo.get(input.node_id)!, created: false };
    },
    remove: db.transaction((nodeId: string): void => {
      if (!repo.get(nodeId)) throw errors.notFound('not_found', `no node ${nodeId}`);
      const objects = w.objects.countOnNode(nodeId);
      if (objects > 0) throw errors.conflict('node_not_empty', `node ${nodeId} still holds ${objects} objects: drain it first`);
      const copies = copiesOn.get(nodeId) as number;
      if (copies > 0) throw errors.conflict('node_not_empty', `node ${nodeId} still holds ${copies} copies: drain it first`);
      const open = openSessionsOn.get(nodeId) as number;
      if (open > 0)
        throw errors.conflict('node_busy', `node ${nodeId} has ${open} open upload sessions: stop its pools and retry after they expire`);
      // Objects homed on a pool that goes keep a factor: their current primary's pool becomes home.
      w.objects.rehomeOffNode(nodeId);
      w.pools.removeOfNode(nodeId);
      deleteNode.run(nodeId);
      keys.delete(nodeId);
      urls.delete(nodeId);
      poolsChanged(db);
    }),
    // Placement only uses 'up' nodes, so its cache is invalidated.
    transition(nodeId: string, from: NodeState, to: NodeState, now: number): boolean {
      const changed = setState.run(to, now, nodeId, from).changes === 1;
      if (changed) poolsChanged(db);
      return changed;
    },
    markSeen(nodeId: string, now: number): void {
      seen.run(now, nodeId);
    },
    publicKey(nodeId: string): KeyObject | undefined {
      const hit = keys.get(nodeId);
      if (hit) return hit;
      const row = repo.get(nodeId);
      if (!row) return undefined;
      const key = ed25519PublicFromJwk({ kty: 'OKP', crv: 'Ed25519', x: row.public_key_x });
      keys.set(nodeId, key);
      return key;
    },
    uploadUrls(nodeId: string): NodeUploadUrls | undefined {
      const hit = urls.get(nodeId);
      if (hit) return hit;
      const row = repo.get(nodeId);
      if (!row) return undefined;
      const found = nodeUploadUrls(row);
      urls.set(nodeId, found);
      return found;
    },
  };
  return repo;
}
