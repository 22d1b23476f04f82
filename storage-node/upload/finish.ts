import fs from 'node:fs/promises';
import path from 'node:path';
import type { UploadComplete } from '../../shared/api.js';
import { originalRelPath } from '../../shared/paths.js';
import type { Visibility } from '../../shared/tokens.js';
import type { NodeStore, ObjectRow } from '../db/store.js';
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
}

/**
 * Makes a fsynced temp file a stored object: rename into `original/YYYY/MM/DD/`, fsync the
 * directory (group commit), then the object row and its outbox row in one transaction, then the
 * database log fsync (group commit too). Only after all of these is the upload durable and a 201
 * honest. On failure before the commit nothing is left behind; after it, the file and its row
 * stay together (the row is the truth, and the outbox will report it).
 */
export async function finishUpload(
  deps: {
    store: NodeStore;
    dirSync: DirSync;
    syncDb: () => Promise<void>;
    wakeOutbox: () => void;
    /** Called once the object is durable: queues its variant job (never throws, never waits on Redis). */
    onStored?: (row: ObjectRow) => void;
  },
  input: FinishInput,
): Promise<ObjectRow> {
  const { ingested } = input;
  const relPath = originalRelPath(input.uuid, ingested.type.ext, input.now, input.visibility);
  const finalPath = path.join(input.poolPath, ...relPath.split('/'));
  const dir = path.dirname(finalPath);
  let renamed = false;
  let recorded = false;
  try {
    const firstCreated = await fs.mkdir(dir, { recursive: true });
    // A new day directory is itself an entry in its parent: every parent that gained one needs
    // its fsync too (once a day per pool, so not worth batching further).
    if (firstCreated) {
      const stop = path.dirname(firstCreated);
      const parents: string[] = [];
      for (let d = dir; d !== stop && d.length > stop.length; d = path.dirname(d)) parents.push(path.dirname(d));
      await Promise.all(parents.map((d) => deps.dirSync.sync(d)));
    }
    await fs.rename(ingested.tmpPath, finalPath);
    renamed = true;
    await deps.dirSync.sync(dir);
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
    if (!recorded) await fs.rm(renamed ? finalPath : ingested.tmpPath, { force: true });
    throw err;
  }
}
