import type { UploadComplete } from '../../shared/api.js';
import { errors } from '../../shared/errors.js';
import { originalRelPath } from '../../shared/paths.js';
import type { Visibility } from '../../shared/tokens.js';
import type { NodeStore, ObjectRow } from '../db/store.js';
import { DiskStore } from '../pool-store/disk-store.js';
import type { DirSync } from './dir-sync.js';
import type { IngestResult } from './ingest.js';

export interface FinishInput {
  nodeId: string;
  poolId: string;
  poolPath: string;
  uuid: string;
  sessionId: string;
  userId: string;
  /** From the token's `vis` claim: a private file is stored under `private/` (signed URLs only). */
  visibility?: Visibility;
  ingested: IngestResult;
  now: Date;
  /**
   * Epoch ms after which the upload is not finished (the token's `dl`, a tus upload's expiry):
   * the coordinator has given the session's reservation back by then.
   */
  deadline?: number;
}

/** What storing a file and its row durably needs: the node's group commits and its outbox. */
export interface DurableRecordDeps {
  store: NodeStore;
  /** The node's group commit of directory fsyncs. */
  dirSync: DirSync;
  /** Makes every database commit so far durable (group-committed WAL fsync). */
  syncDb: () => Promise<void>;
  wakeOutbox: () => void;
  /** Called once the object is durable: queues its variant job (never throws, never waits on Redis). */
  onStored?: (row: ObjectRow) => void;
}

/**
 * Makes a staged temp file a stored object: the disk store's commit into `original/YYYY/MM/DD/`
 * (rename, directory fsync through the group-committed DirSync), then the object row and its outbox row in one transaction, then the
 * database log fsync (group commit too). Only after all of these is the upload durable and a 201
 * honest. On failure before the commit nothing is left behind; after it, the file and its row
 * stay together (the row is the truth, and the outbox will report it).
 */
export async function finishUpload(deps: DurableRecordDeps, input: FinishInput): Promise<ObjectRow> {
  const { ingested } = input;
  const relPath = originalRelPath(input.uuid, ingested.type.ext, input.now, input.visibility);
  const disk = new DiskStore({ root: input.poolPath, dirSync: deps.dirSync });
  let recorded = false;
  try {
    // Checked at the last moment: a body may have streamed for hours since the token was checked.
    if (input.deadline !== undefined && input.now.getTime() > input.deadline)
      throw errors.gone(
        'upload_expired',
        `the session's deadline ${new Date(input.deadline).toISOString()} passed before the upload finished`,
      );
    await disk.commit(ingested, relPath);
    const row: ObjectRow = {
      uuid: input.uuid,
      session_id: input.sessionId,
      user_id: input.userId,
      pool_id: input.poolId,
      rel_path: relPath,
      size: ingested.size,
      sha256: ingested.sha256,
      mime: ingested.type.mime,
      created_at: input.now.toISOString(),
    };
    const complete: UploadComplete = {
      session_id: row.session_id,
      image_uuid: row.uuid,
      user_id: row.user_id,
      node_id: input.nodeId,
      pool_id: row.pool_id,
      rel_path: row.rel_path,
      size: row.size,
      sha256: row.sha256,
      mime: row.mime,
      created_at: row.created_at,
    };
    deps.store.recordUpload(row, complete, input.now.getTime());
    recorded = true;
    await deps.syncDb();
    deps.wakeOutbox();
    deps.onStored?.(row);
    return row;
  } catch (err) {
    // The uuid names a file no one else writes: removing it undoes a rename that happened.
    if (!recorded) await Promise.all([disk.discard(ingested), disk.remove(relPath)]);
    throw err;
  }
}
