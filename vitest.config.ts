import { defineConfig } from 'vitest/config';

const EXCLUDE = ['node_modules/**', 'dist/**', 'data/**'];
const SOURCE_TESTS = ['shared/**/*.test.ts', 'coordinator/**/*.test.ts', 'storage-node/**/*.test.ts'];

/**
 * Tests beside the source that need more than memory and a temp dir: a redis-server, SQLite,
 * s3rver or a local HTTP server started by the test, an in-process app answering requests, or
 * real libvips encodes (seconds of CPU per photo).
 * Every other test beside the source is a unit test (no socket, no process), so a new file is a
 * unit test until it is listed here.
 */
const INTEGRATION_TESTS = [
  'coordinator/api.test.ts',
  'coordinator/backups.test.ts',
  'coordinator/db/users.test.ts',
  'coordinator/deletions.test.ts',
  'coordinator/durability/surplus.test.ts',
  'coordinator/node-reports.test.ts',
  'coordinator/queues.test.ts',
  'coordinator/replication.test.ts',
  'coordinator/restore-list.test.ts',
  'coordinator/routes/ui.test.ts',
  'coordinator/tiering.test.ts',
  'coordinator/webhooks/admin-url.test.ts',
  'coordinator/webhooks/dispatcher.test.ts',
  'storage-node/backup/delete.test.ts',
  'storage-node/backup/lane.test.ts',
  'storage-node/backup/records.test.ts',
  'storage-node/heartbeat.test.ts',
  'storage-node/jobs/image-state.test.ts',
  'storage-node/jobs/node-queues.test.ts',
  'storage-node/jobs/queue.test.ts',
  'storage-node/jobs/variants-job.test.ts',
  'storage-node/outbox.test.ts',
  'storage-node/pool-store/s3-store.test.ts',
  'storage-node/routes/replicate.test.ts',
  'storage-node/routes/static-private.test.ts',
  'storage-node/routes/static.test.ts',
  'storage-node/routes/tus.test.ts',
  'storage-node/routes/upload.test.ts',
  'storage-node/scrub/scrubber.test.ts',
  'storage-node/upload/multipart.test.ts',
  'storage-node/variants/pipeline.test.ts',
];

export default defineConfig({
  test: {
    exclude: EXCLUDE,
    // End-to-end files start real processes; two files at a time fits a 2-core machine.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      { extends: true, test: { name: 'unit', include: SOURCE_TESTS, exclude: [...EXCLUDE, ...INTEGRATION_TESTS] } },
      { extends: true, test: { name: 'integration', include: INTEGRATION_TESTS } },
      // The built binaries (run `npm run build` first), nginx, Chromium, promtool.
      { extends: true, test: { name: 'e2e', include: ['test/**/*.test.ts'] } },
    ],
  },
});
