import type { z } from 'zod';
import { type ImageEventType, imageEventSchema, uploadCompleteSchema } from './api.js';
import {
  BACKUP_DELETED,
  BACKUP_SCHEDULED,
  BACKUP_STORED,
  backupDeletedSchema,
  backupScheduledSchema,
  backupStoredSchema,
} from './backup.js';
import { copiesScrubbedSchema, copyCorruptSchema, copyDeletedSchema, copyStoredSchema, moveItemReportSchema } from './replication.js';
import { RESTORE_LIST, RESTORE_LIST_ROUTE } from './restore.js';

/**
 * Every report a node sends the coordinator, in one place: the node signs the body for the
 * kind's purpose and POSTs it to the kind's path; the coordinator mounts that path, checks that
 * purpose and parses the body with that schema. Adding a report is one line here.
 */
export interface NodeReportSpec<S extends z.ZodType = z.ZodType> {
  /** Full path on the coordinator. */
  path: string;
  /** `sub` of the node-signed token; a token for one purpose is useless for another. */
  purpose: string;
  /** The body; every report names the node it speaks for (`node_id`), which must be the signer. */
  schema: S;
  /**
   * `outbox`: committed with the change on the node and retried until a 2xx (storage-node/outbox.ts).
   * `direct`: the node asks and waits for the answer (the move job's item report).
   */
  delivery: 'outbox' | 'direct';
}

/** One variant milestone: the image-event body, refused on a route of another milestone. */
const imageEvent = (event: ImageEventType) =>
  imageEventSchema.refine((b) => b.event === event, { message: `this route takes ${event} events`, path: ['event'] });

export const NODE_REPORTS = {
  'upload.complete': {
    path: '/api/internal/uploads/complete',
    purpose: 'upload.complete',
    schema: uploadCompleteSchema,
    delivery: 'outbox',
  },
  // Variant milestones (storage-node/jobs/image-state.ts writes them with the state change).
  'image.thumbnails_ready': {
    path: '/api/internal/images/thumbnails-ready',
    purpose: 'image.thumbnails_ready',
    schema: imageEvent('image.thumbnails_ready'),
    delivery: 'outbox',
  },
  'image.ready': { path: '/api/internal/images/ready', purpose: 'image.ready', schema: imageEvent('image.ready'), delivery: 'outbox' },
  'image.failed': { path: '/api/internal/images/failed', purpose: 'image.failed', schema: imageEvent('image.failed'), delivery: 'outbox' },
  // Copies between nodes (shared/replication.ts).
  'copy.stored': { path: '/api/internal/copies/stored', purpose: 'copy.stored', schema: copyStoredSchema, delivery: 'outbox' },
  'copy.corrupt': { path: '/api/internal/copies/corrupt', purpose: 'copy.corrupt', schema: copyCorruptSchema, delivery: 'outbox' },
  'copy.deleted': { path: '/api/internal/copies/deleted', purpose: 'copy.deleted', schema: copyDeletedSchema, delivery: 'outbox' },
  'copies.scrubbed': {
    path: '/api/internal/copies/scrubbed',
    purpose: 'copies.scrubbed',
    schema: copiesScrubbedSchema,
    delivery: 'outbox',
  },
  // S3 backups (shared/backup.ts).
  [BACKUP_SCHEDULED]: {
    path: '/api/internal/backups/scheduled',
    purpose: BACKUP_SCHEDULED,
    schema: backupScheduledSchema,
    delivery: 'outbox',
  },
  [BACKUP_STORED]: { path: '/api/internal/backups/stored', purpose: BACKUP_STORED, schema: backupStoredSchema, delivery: 'outbox' },
  [BACKUP_DELETED]: { path: '/api/internal/backups/deleted', purpose: BACKUP_DELETED, schema: backupDeletedSchema, delivery: 'outbox' },
  // Pool moves: the source node's move job waits for the answer (MoveItemAnswer).
  'move.item': { path: '/api/internal/moves/item', purpose: 'move.item', schema: moveItemReportSchema, delivery: 'direct' },
} as const satisfies Record<string, NodeReportSpec>;

export type NodeReportKind = keyof typeof NODE_REPORTS;
/** The parsed body of one kind of report. */
export type NodeReportBody<K extends NodeReportKind> = z.infer<(typeof NODE_REPORTS)[K]['schema']>;

export function isNodeReportKind(kind: string): kind is NodeReportKind {
  return Object.hasOwn(NODE_REPORTS, kind);
}

/** A node-signed GET: the token binds the empty body and, in `bind.url`, the path and query. */
export interface NodeQuerySpec {
  /** Route pattern on the coordinator (hono syntax, `:param`). */
  path: string;
  purpose: string;
}

export const NODE_QUERIES = {
  'restore.list': { path: RESTORE_LIST_ROUTE, purpose: RESTORE_LIST },
} as const satisfies Record<string, NodeQuerySpec>;

export type NodeQueryKind = keyof typeof NODE_QUERIES;
