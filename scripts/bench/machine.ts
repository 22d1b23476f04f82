import { execFileSync } from 'node:child_process';
import os from 'node:os';

/** The facts a reader needs to compare two benchmark runs. */
export async function machineFacts(dataDir: string): Promise<Record<string, unknown>> {
  let filesystem = 'unknown';
  try {
    filesystem = execFileSync('stat', ['-f', '-c', '%T', dataDir]).toString().trim();
  } catch {
    // stat -f is Linux-only; the figure stands without it
  }
  let sharp: Record<string, unknown> | null = null;
  try {
    const mod = (await import('sharp' as string)) as { default: { versions: Record<string, string> } };
    sharp = mod.default.versions;
  } catch {
    // sharp arrives with the variants issue
  }
  return {
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memory_gib: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    filesystem,
    sharp,
  };
}
