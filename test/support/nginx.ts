import { execFile, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

export const NGINX = '/usr/sbin/nginx';

export interface TestNginx {
  pid: number | undefined;
  /** SIGTERM, resolved when the master has exited. */
  stop(): Promise<void>;
}

/**
 * A real nginx, non-daemon, with everything (pid, logs, temp paths) under `dir`, its http block
 * including the site files given (already written under `dir`). The config is checked with
 * `nginx -t` first, so a rendered site that nginx refuses fails the test with nginx's message.
 */
export async function startNginx(dir: string, opts: { sites: string[]; workerConnections?: number; http?: string[] }): Promise<TestNginx> {
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi', 'logs']) mkdirSync(path.join(dir, d), { recursive: true });
  writeFileSync(
    path.join(dir, 'nginx.conf'),
    // Workers read the pools as the user that owns them (production: www-data in group fennec).
    `${process.getuid?.() === 0 ? 'user root;\n' : ''}daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections ${opts.workerConnections ?? 64}; }
http {
${(opts.http ?? []).map((l) => `  ${l}\n`).join('')}  access_log ${dir}/logs/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
${opts.sites.map((s) => `  include ${path.join(dir, s)};\n`).join('')}}
`,
  );
  const args = ['-p', `${dir}/`, '-e', `${dir}/logs/error.log`, '-c', `${dir}/nginx.conf`];
  await promisify(execFile)(NGINX, ['-t', ...args]);
  const proc = spawn(NGINX, args, { stdio: 'ignore' });
  return {
    pid: proc.pid,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
