import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** stdout and stderr are appended here (JSON logs of our binaries, redis' own log). */
  logFile: string;
  cwd?: string;
}

/**
 * One child process of the cluster, stopped by its PID. It can be stopped and started again
 * (tests kill a coordinator or Redis and bring it back), and `exited` tells who watches it.
 */
export class ManagedProcess {
  private child: ChildProcess | undefined;
  private log: WriteStream | undefined;
  private exitPromise: Promise<number | null> = Promise.resolve(null);
  /** Called when the process exits without having been asked to. */
  onUnexpectedExit: ((code: number | null, signal: NodeJS.Signals | null) => void) | undefined;
  private stopping = false;

  constructor(readonly spec: ProcessSpec) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    if (this.running) return;
    mkdirSync(path.dirname(this.spec.logFile), { recursive: true });
    this.log = createWriteStream(this.spec.logFile, { flags: 'a' });
    this.stopping = false;
    const child = spawn(this.spec.command, this.spec.args, {
      cwd: this.spec.cwd,
      env: { ...process.env, ...this.spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(this.log, { end: false });
    child.stderr?.pipe(this.log, { end: false });
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        if (!this.stopping) this.onUnexpectedExit?.(code, signal);
        resolve(code);
      });
      child.once('error', (err) => {
        this.log?.write(`spawn error: ${err.message}\n`);
        resolve(null);
      });
    });
    this.child = child;
  }

  /** SIGTERM (graceful), then SIGKILL after `timeoutMs`. Resolves when the process is gone. */
  async stop(timeoutMs = 15_000): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    this.stopping = true;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await this.exitPromise;
    clearTimeout(timer);
    this.log?.end();
  }

  /** kill -9: the crash a test wants to survive. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    this.stopping = true;
    child.kill('SIGKILL');
    await this.exitPromise;
    this.log?.end();
  }

  /** Resolves with the exit code when the process exits. */
  exited(): Promise<number | null> {
    return this.exitPromise;
  }
}
