import { Logger } from '@nestjs/common';

/**
 * Runs a repository scan every `intervalMs`, one pass at a time: the next pass is scheduled only
 * when the previous one (which may be loading a model) has finished, so passes never overlap.
 * Polling rather than fs.watch: it behaves the same on every file system, including network and
 * container volumes, and a version folder renamed into place is seen whole or not at all.
 */
export class ModelWatcher {
  private readonly logger = new Logger(ModelWatcher.name);
  private timer?: NodeJS.Timeout;
  private pass?: Promise<void>;
  private stopped = true;

  constructor(
    private readonly intervalMs: number,
    private readonly poll: () => Promise<void>,
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.pass = this.poll()
        .catch((error: Error) =>
          this.logger.error(`Model repository scan failed: ${error.message}`),
        )
        .finally(() => {
          this.pass = undefined;
          this.schedule();
        });
    }, this.intervalMs);
    // A pending scan must not keep the process alive on its own.
    this.timer.unref();
  }

  /** Stops polling and waits for a pass in progress, so shutdown never disposes mid-load. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.pass;
  }
}
