import { type ChildProcess, fork } from 'node:child_process';
import type { Logger } from '../../shared/logger.js';
import type { WorkerMessage } from './worker-messages.js';

/**
 * Starts `fennec-node worker` beside the main process and keeps it running: a worker that dies
 * (a crash on a hostile image, an OOM kill) is started again with backoff, and the queue's
 * stalled-job recovery hands its job to the new one.
 */
export class JobWorkerSupervisor {
  #child: ChildProcess | undefined;
  #stopping = false;
  #restarts = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly opts: {
      /** The node's entry script and its arguments (e.g. --env-file), re-used for the child. */
      script: string;
      args: string[];
      execArgv: string[];
      logger: Logger;
      onMessage: (msg: WorkerMessage) => void;
    },
  ) {}

  start(): void {
    const child = fork(this.opts.script, ['worker', ...this.opts.args], {
      execArgv: this.opts.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.on('message', (msg) => this.opts.onMessage(msg as WorkerMessage));
    child.once('exit', (code, signal) => {
      if (this.#stopping) return;
      const delay = Math.min(30_000, 500 * 2 ** Math.min(this.#restarts++, 6));
      this.opts.logger.error({ code, signal, restart_in_ms: delay }, 'job worker exited; restarting');
      this.#timer = setTimeout(() => this.start(), delay);
    });
    // A worker that stays up a minute has recovered: the next crash starts the backoff afresh.
    setTimeout(() => {
      if (this.#child === child && child.exitCode === null) this.#restarts = 0;
    }, 60_000).unref();
    this.#child = child;
  }

  /** SIGTERM (running jobs finish), SIGKILL after `timeoutMs`. Safe to call twice. */
  async stop(timeoutMs = 60_000): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#timer);
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(kill);
  }
}
