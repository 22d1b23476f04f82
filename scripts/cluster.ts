#!/usr/bin/env node
/**
 * `npm start -- [--nodes N] [--data DIR] [--port BASE]`: a local Fennec cluster in the
 * foreground. Ctrl-C (SIGINT) or SIGTERM stops every process it started.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Cluster, type ClusterInfo } from './cluster/launcher.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1' },
    data: { type: 'string', default: './data' },
    port: { type: 'string', default: '8080' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log(
    'usage: npm start -- [--nodes N] [--data DIR] [--port BASE]\n' +
      '  coordinator on BASE, Redis on BASE+1, node i on BASE+1+i; everything under DIR.',
  );
  process.exit(0);
}

const nodes = Number(values.nodes);
const basePort = Number(values.port);
if (!Number.isInteger(nodes) || nodes < 1 || nodes > 99) fail('--nodes must be an integer from 1 to 99');
if (!Number.isInteger(basePort) || basePort < 1 || basePort + nodes + 1 > 65535) fail('--port must be a valid base port');
const dataDir = path.resolve(values.data);

function fail(message: string): never {
  console.error(`fennec cluster: ${message}`);
  process.exit(2);
}

function example(info: ClusterInfo): string {
  const c = info.coordinator_url;
  return `
Cluster is up. Details (keys included) in ${path.join(dataDir, 'cluster.json')}; logs in ${path.join(dataDir, 'logs')}.

Try it (bash):
  APP_KEY=$(node -p "require('${path.join(dataDir, 'cluster.json')}').app_key")
  SESSION=$(curl -s -X POST ${c}/api/v1/upload/sessions \\
    -H "Authorization: Bearer $APP_KEY" -H 'Content-Type: application/json' \\
    -d '{"user_id":"alice","file_size":'$(stat -c %s photo.jpg)'}')
  curl -s -X POST "$(node -p "JSON.parse(process.argv[1]).upload_url" "$SESSION")" \\
    -H "Authorization: Bearer $(node -p "JSON.parse(process.argv[1]).token" "$SESSION")" \\
    -F file=@photo.jpg
  curl -s ${c}/api/v1/images/<image_uuid> -H "Authorization: Bearer $APP_KEY"

Press Ctrl-C to stop.`;
}

let cluster: Cluster | undefined;
let stopping: Promise<void> | undefined;

function shutdown(code: number): Promise<void> {
  stopping ??= (async () => {
    console.log('\nstopping…');
    await cluster?.stop();
    process.exit(code);
  })();
  return stopping;
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

try {
  cluster = await Cluster.start({ dataDir, nodes, basePort, log: (line) => console.log(line) });
} catch (err) {
  console.error(`fennec cluster: could not start: ${(err as Error).message}`);
  await shutdown(1);
}
if (cluster) {
  for (const proc of cluster.all()) {
    proc.onUnexpectedExit = (code, signal) => {
      console.error(`${proc.spec.name} exited unexpectedly (code ${code}, signal ${signal}); see ${proc.spec.logFile}`);
      void shutdown(1);
    };
  }
  console.log(example(cluster.info));
}
