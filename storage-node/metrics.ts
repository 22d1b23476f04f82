import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** How a file arrived: one multipart/raw POST, or a resumable tus upload. */
export type UploadKind = 'direct' | 'tus';

export interface NodeMetrics {
  registry: Registry;
  uploads: Counter<'status'>;
  uploadBytes: Counter;
  /** Stored uploads only: request start to 201 (direct), tus creation to the completing request (tus). */
  uploadDuration: Histogram<'kind'>;
  uploadSize: Histogram<'kind'>;
  /** Refused or failed uploads by error code (`too_large`, `invalid_token`, `http_409`…): a bounded set. */
  uploadErrors: Counter<'reason'>;
  activeUploads: Gauge;
  outboxPending: Gauge;
  heartbeatFailures: Counter;
  /** Image milestones committed to SQLite: `thumbnails_ready`, `ready`, `failed` (each at most once per image). */
  imagesProcessed: Counter<'outcome'>;
  /** One variant phase of one image (decode + every encode + fsyncs). */
  variantPhaseDuration: Histogram<'phase'>;
  /** One output (`small.webp`, `full.avif`…): encode, write, fsync, rename. */
  variantEncodeDuration: Histogram<'variant'>;
  /** Originals re-read by scrub, by outcome: ok, missing, mismatch, error (unreadable, not judged). */
  scrubObjects: Counter<'outcome'>;
  scrubBytes: Counter;
  /** End of the last scrub pass that ran to completion (epoch seconds); 0 = none since start. */
  scrubLastPass: Gauge;
  /** Duration of that pass: a gauge, as passes are daily and run for minutes to hours. */
  scrubPassDuration: Gauge;
  poolTotalBytes: Gauge<'pool'>;
  poolFreeBytes: Gauge<'pool'>;
  poolUsedBytes: Gauge<'pool'>;
  poolFillRatio: Gauge<'pool'>;
  poolWritable: Gauge<'pool'>;
}

// Phone photos are 1–15 MB, videos and RAW files reach gigabytes.
const SIZE_BUCKETS = [16, 64, 256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304].map((k) => k * 1024);
const UPLOAD_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600];
const VARIANT_SECONDS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** One registry per process (tests build several apps in one process). */
export function createMetrics(opts: { defaults?: boolean } = {}): NodeMetrics {
  const registry = new Registry();
  if (opts.defaults ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const pool = (name: string, help: string) => new Gauge({ name, help, labelNames: ['pool'] as const, registers });
  return {
    registry,
    uploads: new Counter({
      name: 'fennec_node_uploads_total',
      help: 'Uploads finished, by HTTP status',
      labelNames: ['status'],
      registers,
    }),
    uploadBytes: new Counter({
      name: 'fennec_node_upload_bytes_total',
      help: 'Bytes of uploads stored (201 only)',
      registers,
    }),
    uploadDuration: new Histogram({
      name: 'fennec_node_upload_duration_seconds',
      help: 'Stored uploads: time from the first request to the durable 201, by kind (direct, tus)',
      labelNames: ['kind'],
      buckets: UPLOAD_SECONDS,
      registers,
    }),
    uploadSize: new Histogram({
      name: 'fennec_node_upload_size_bytes',
      help: 'Size of stored uploads, by kind (direct, tus)',
      labelNames: ['kind'],
      buckets: SIZE_BUCKETS,
      registers,
    }),
    uploadErrors: new Counter({
      name: 'fennec_node_upload_errors_total',
      help: 'Uploads refused or failed, by error code',
      labelNames: ['reason'],
      registers,
    }),
    activeUploads: new Gauge({
      name: 'fennec_node_active_uploads',
      help: 'Uploads currently streaming',
      registers,
    }),
    outboxPending: new Gauge({
      name: 'fennec_node_outbox_pending',
      help: 'Outbox rows not yet delivered to the coordinator (dead rows excluded)',
      registers,
    }),
    heartbeatFailures: new Counter({
      name: 'fennec_node_heartbeat_failures_total',
      help: 'Heartbeats that could not be written to Redis',
      registers,
    }),
    imagesProcessed: new Counter({
      name: 'fennec_node_images_processed_total',
      help: 'Image processing milestones (thumbnails_ready, ready, failed), once per image each',
      labelNames: ['outcome'],
      registers,
    }),
    variantPhaseDuration: new Histogram({
      name: 'fennec_node_variant_phase_duration_seconds',
      help: 'One variant phase of one image (thumbnails or full): decode, every encode, fsyncs',
      labelNames: ['phase'],
      buckets: VARIANT_SECONDS,
      registers,
    }),
    variantEncodeDuration: new Histogram({
      name: 'fennec_node_variant_encode_duration_seconds',
      help: 'One variant output (small.webp, full.avif…): encode, write, fsync, rename',
      labelNames: ['variant'],
      buckets: VARIANT_SECONDS,
      registers,
    }),
    scrubObjects: new Counter({
      name: 'fennec_node_scrub_objects_total',
      help: 'Originals re-read by scrub, by outcome (ok, missing, mismatch, error)',
      labelNames: ['outcome'],
      registers,
    }),
    scrubBytes: new Counter({
      name: 'fennec_node_scrub_bytes_total',
      help: 'Bytes of originals scrub read and hashed',
      registers,
    }),
    scrubLastPass: new Gauge({
      name: 'fennec_node_scrub_last_pass_timestamp_seconds',
      help: 'When the last complete scrub pass ended (epoch seconds; 0 = none since start)',
      registers,
    }),
    scrubPassDuration: new Gauge({
      name: 'fennec_node_scrub_pass_duration_seconds',
      help: 'How long the last complete scrub pass took',
      registers,
    }),
    poolTotalBytes: pool('fennec_node_pool_total_bytes', 'Pool size: the disk, or max_bytes when set (at the last heartbeat)'),
    poolFreeBytes: pool('fennec_node_pool_free_bytes', 'Bytes new uploads may still use in the pool (at the last heartbeat)'),
    poolUsedBytes: pool('fennec_node_pool_used_bytes', 'Bytes of files this node stores in the pool (at the last heartbeat)'),
    poolFillRatio: pool('fennec_node_pool_fill_ratio', 'How full the pool is for new uploads: 1 - free/total (0..1)'),
    poolWritable: pool('fennec_node_pool_writable', '1 when the last write probe of the pool succeeded'),
  };
}
