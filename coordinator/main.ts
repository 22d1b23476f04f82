#!/usr/bin/env node
import path from 'node:path';
import { serve } from '@hono/node-server';
import { ConfigError, parseConfig, readEnvironment } from '../shared/config.js';
import { createShutdown } from '../shared/shutdown.js';
import { composeCoordinator } from './compose.js';
import { type CoordinatorConfig, coordinatorEnvSchema } from './config.js';
import { addSigningKey } from './signing-keys.js';

function loadConfig(): CoordinatorConfig {
  try {
    return parseConfig(coordinatorEnvSchema, readEnvironment(process.argv, process.env));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`fennec-coordinator: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

function main(): void {
  const config = loadConfig();
  if (process.argv[2] === 'rotate-key') {
    const keysDir = path.join(config.dataDir, 'signing-keys');
    const kid = addSigningKey(keysDir);
    process.stdout.write(`${JSON.stringify({ kid, dir: keysDir })}\n`);
    return;
  }

  const coordinator = composeCoordinator(config);
  const { logger, signingKeys } = coordinator.deps;
  coordinator.start();
  const server = serve({ fetch: coordinator.app.fetch, port: config.listenPort, hostname: config.listenHost }, (info) => {
    // With port 0 the default public URL only becomes known now.
    const publicUrl = config.publicUrl.replace(/:0$/, `:${info.port}`);
    logger.info({ host: config.listenHost, port: info.port, public_url: publicUrl, kid: signingKeys.kid }, 'listening');
  });
  const stop = createShutdown(logger, [
    { name: 'http', run: () => closeHttp(server), timeoutMs: HTTP_CLOSE_MS + 1000 },
    ...coordinator.stopSteps,
  ]);
  let stopping: Promise<void> | undefined;
  // The first reason and its exit code win; a second signal waits for the same shutdown.
  const shutdown = (reason: string, exitCode = 0) => {
    stopping ??= (() => {
      logger.info({ reason }, 'shutting down');
      return stop().then(() => {
        process.exitCode = exitCode;
      });
    })();
  };
  server.on('error', (err) => {
    logger.fatal({ err }, 'server error');
    shutdown('server-error', 1);
  });
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/** Requests in flight get this long before their connections are closed. */
const HTTP_CLOSE_MS = 10_000;

function closeHttp(server: ReturnType<typeof serve>): Promise<void> {
  return new Promise<void>((resolve) => {
    const force = setTimeout(() => {
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      resolve();
    }, HTTP_CLOSE_MS);
    force.unref();
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    // Idle keep-alive sockets would hold close() open until they time out.
    (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
  });
}

main();
