import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { waitForPort } from '../cluster/ports.js';

/** The nginx binary when installed (Debian puts it in /usr/sbin, often outside a user's PATH). */
export function findNginx(): string | undefined {
  for (const candidate of ['/usr/sbin/nginx', '/usr/bin/nginx']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * nginx receiving PUTs with its dav module into a directory on the same filesystem: the
 * "what a C server does" baseline for ingest-large. nginx does not fsync; we report that beside
 * the figure rather than pretend the two do the same work.
 */
export async function startNginxBaseline(nginx: string, dir: string, port: number): Promise<{ url: string; stop: () => Promise<void> }> {
  const root = path.join(dir, 'nginx');
  for (const d of ['files', 'body', 'logs']) mkdirSync(path.join(root, d), { recursive: true });
  const conf = path.join(root, 'nginx.conf');
  writeFileSync(
    conf,
    `
daemon off;
master_process off;
worker_processes 1;
error_log ${root}/logs/error.log warn;
pid ${root}/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${root}/body;
  proxy_temp_path ${root}/body;
  fastcgi_temp_path ${root}/body;
  uwsgi_temp_path ${root}/body;
  scgi_temp_path ${root}/body;
  server {
    listen 127.0.0.1:${port};
    client_max_body_size 0;
    location /files/ {
      root ${root};
      dav_methods PUT DELETE;
      create_full_put_path on;
    }
  }
}
`,
  );
  const child: ChildProcess = spawn(nginx, ['-c', conf, '-p', root], { stdio: 'ignore' });
  await waitForPort(port);
  return {
    url: `http://127.0.0.1:${port}/files`,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
