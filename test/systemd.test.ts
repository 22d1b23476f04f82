import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
const root = path.resolve(import.meta.dirname, '..');
const UNITS = ['fennec-coordinator.service', 'fennec-node@.service', 'fennec-node-worker@.service'];

/**
 * `systemd-analyze verify` checks that ExecStart binaries exist, so the units are verified as
 * installed from this checkout: /opt/fennec → the repository (its dist/ is built by `npm test`)
 * and /usr/bin/node → the node running the tests (the same file on the target machines). The
 * text is otherwise the shipped one.
 */
describe.skipIf(!existsSync(SYSTEMD_ANALYZE))('systemd units', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'fennec-units-'));
    for (const unit of UNITS) {
      const text = readFileSync(path.join(root, 'systemd', unit), 'utf8')
        .replaceAll('/opt/fennec', root)
        .replaceAll('/usr/bin/node', process.execPath);
      writeFileSync(path.join(dir, unit), text);
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the binaries they start exist', () => {
    for (const rel of ['dist/coordinator/main.js', 'dist/storage-node/main.js', 'dist/scripts/wait-ready.js'])
      expect(existsSync(path.join(root, rel)), rel).toBe(true);
  });

  it('pass systemd-analyze verify without a warning', async () => {
    const { stdout, stderr } = await run(
      SYSTEMD_ANALYZE,
      ['verify', './fennec-coordinator.service', './fennec-node@s01.service', './fennec-node-worker@s01.service'],
      {
        cwd: dir,
      },
    );
    expect(stderr).toBe('');
    expect(stdout).toBe('');
  });

  it('the node runs with the small V8 semi-space and reads its per-instance env file', () => {
    const text = readFileSync(path.join(root, 'systemd/fennec-node@.service'), 'utf8');
    expect(text).toMatch(/^ExecStart=\/usr\/bin\/node --max-semi-space-size=1 \/opt\/fennec\/dist\/storage-node\/main\.js$/m);
    expect(text).toMatch(/^EnvironmentFile=\/etc\/fennec\/node-%i\.env$/m);
  });

  it('the job worker is its own unit with its own MemoryMax, and the node does not fork one', () => {
    const node = readFileSync(path.join(root, 'systemd/fennec-node@.service'), 'utf8');
    const worker = readFileSync(path.join(root, 'systemd/fennec-node-worker@.service'), 'utf8');
    expect(node).toMatch(/^Environment=FENNEC_WORKER_MODE=external$/m);
    expect(node).toMatch(/^Wants=.*\bfennec-node-worker@%i\.service\b/m);
    expect(worker).toMatch(/^ExecStart=\/usr\/bin\/node \/opt\/fennec\/dist\/storage-node\/main\.js worker$/m);
    expect(worker).toMatch(/^PartOf=fennec-node@%i\.service$/m);
    expect(worker).toMatch(/^EnvironmentFile=\/etc\/fennec\/node-%i\.env$/m);
    // The measured peak of the worst image the default pixel cap admits (1245 MiB) fits.
    expect(worker).toMatch(/^MemoryMax=1536M$/m);
  });

  for (const [unit, instance] of [
    ['fennec-coordinator.service', 'fennec-coordinator.service'],
    ['fennec-node@.service', 'fennec-node@s01.service'],
    ['fennec-node-worker@.service', 'fennec-node-worker@s01.service'],
  ] as const) {
    it(`${unit} scores as hardened (systemd-analyze security --offline)`, async () => {
      const { stdout } = await run(SYSTEMD_ANALYZE, ['security', '--offline=yes', '--no-pager', `./${instance}`], { cwd: dir });
      const m = /Overall exposure level for \S+: ([\d.]+) (\w+)/.exec(stdout);
      expect(m, stdout).not.toBeNull();
      const score = Number(m![1]);
      console.log(`systemd-analyze security ${instance}: ${score} ${m![2]}`);
      expect(score).toBeLessThan(2.5);
    });
  }
});
