/**
 * `node dist/scripts/wait-ready.js [default-port]`: polls `http://HOST:PORT/ready` (from
 * FENNEC_LISTEN_HOST / FENNEC_LISTEN_PORT, as the binary itself reads them) until it answers
 * 200, then exits 0; exits 1 after FENNEC_READY_TIMEOUT_MS (default 50 s). The systemd units run
 * it as ExecStartPost, so a unit is "active" only when its binary can serve — Type=notify would
 * need a native dependency in Node.
 */
const defaultPort = process.argv[2] ?? '8080';
const rawHost = process.env.FENNEC_LISTEN_HOST || '127.0.0.1';
// A wildcard bind is reachable on loopback.
const host = rawHost === '0.0.0.0' ? '127.0.0.1' : rawHost === '::' ? '::1' : rawHost;
const port = process.env.FENNEC_LISTEN_PORT || defaultPort;
const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/ready`;
const deadline = Date.now() + Number(process.env.FENNEC_READY_TIMEOUT_MS || 50_000);

let last = 'no answer';
while (Date.now() < deadline) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    if (res.ok) process.exit(0);
    last = `HTTP ${res.status} ${await res.text()}`;
  } catch (err) {
    last = (err as Error).message;
  }
  await new Promise((r) => setTimeout(r, 250));
}
process.stderr.write(`wait-ready: ${url} not ready: ${last}\n`);
process.exit(1);
