#!/usr/bin/env -S node --max-semi-space-size=1
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, parseConfig, readEnvironment } from '../shared/config.js';
import { loadOrCreateEd25519Key } from '../shared/keys.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { createShutdown } from '../shared/shutdown.js';
import { composeNode } from './compose.js';
import { initConfigSchema, type NodeConfig, nodeConfigSchema } from './config.js';
import { PoolSetupError, preparePool } from './pools.js';
import { listen } from './server.js';

function version(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      return (JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      // try the next layout (source vs dist)
    }
  }
  return '0.0.0';
}

/** `fennec-node init`: identity key and pool markers, then one JSON line for registration. */
function init(env: Record<string, string | undefined>): void {
  const cfg = parseConfig(initConfigSchema, env);
  const key = loadOrCreateEd25519Key(cfg.nodeKeyFile);
  for (const pool of cfg.pools) preparePool(pool);
  process.stdout.write(`${JSON.stringify({ node_id: cfg.nodeId, public_key: key.publicJwk })}\n`);
}

async function run(cfg: NodeConfig, logger: Logger): Promise<void> {
  for (const pool of cfg.pools) {
    const removed = preparePool(pool);
    if (removed > 0) logger.warn({ pool_id: pool.id, removed }, 'removed partial uploads of a previous process');
  }
  const node = composeNode(cfg, {
    logger,
    worker: { script: fileURLToPath(import.meta.url), args: process.argv.slice(2), execArgv: process.execArgv },
    version: version(),
  });
  const { server, port } = await listen(node.app, { host: cfg.listenHost, port: cfg.listenPort, idleTimeoutMs: cfg.idleTimeoutMs });
  const host = cfg.listenHost.includes(':') ? `[${cfg.listenHost}]` : cfg.listenHost;
  const publicUrl = cfg.publicUrl ?? `http://${host}:${port}`;
  node.start(publicUrl);
  logger.info({ port, host: cfg.listenHost, public_url: publicUrl, node_id: cfg.nodeId }, 'listening');

  const shutdown = createShutdown(logger, node.stopSteps(server));
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      logger.info({ signal }, 'shutting down');
      void shutdown().then(() => process.exit(0));
    });
  }
}

async function main(): Promise<void> {
  let env: Record<string, string | undefined>;
  try {
    env = readEnvironment(process.argv, process.env);
    if (process.argv[2] === 'init') {
      init(env);
      return;
    }
    if (process.argv[2] === 'worker') {
      const cfg = parseConfig(nodeConfigSchema, env);
      // Imported only here: the main process never loads sharp (libvips) at all.
      const { runJobWorker } = await import('./jobs/worker-process.js');
      await runJobWorker(cfg, createLogger({ name: 'fennec-node-worker', level: cfg.logLevel }));
      return;
    }
    if (process.argv[2] === 'restore') {
      const { restoreCommand, RestoreUsageError } = await import('./restore/command.js');
      try {
        process.exitCode = await restoreCommand(process.argv.slice(3), env);
      } catch (err) {
        if (err instanceof RestoreUsageError || err instanceof ConfigError) throw err;
        // The coordinator or S3 unreachable mid-run: what is restored stays; running it again resumes.
        process.stderr.write(`fennec-node restore: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
      return;
    }
    const cfg = parseConfig(nodeConfigSchema, env);
    const logger = createLogger({ name: 'fennec-node', level: cfg.logLevel });
    await run(cfg, logger);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof PoolSetupError || (err instanceof Error && err.name === 'RestoreUsageError')) {
      process.stderr.write(`fennec-node: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

await main();
