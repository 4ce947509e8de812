import { close, open, write, writev } from 'node:fs';
import { Writable } from 'node:stream';
import type { FollowedFile } from '../hashing/follow.js';

/** Report progress to the hasher at most every this many bytes (and at the end). */
const NOTIFY_EVERY = 8 << 20;

/**
 * Writes a download into its staging file and tells the follow-hasher how far the file is
 * written, so hashing trails the download on another core. Queued chunks go out in one writev.
 */
export class FollowedWriter extends Writable {
  private fd = -1;
  private written = 0;
  private notified = 0;

  constructor(
    private readonly file: string,
    private readonly follower: FollowedFile,
    /** Bytes written, for progress and the stall rule. */
    private readonly onBytes?: (n: number) => void,
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  get bytes(): number {
    return this.written;
  }

  override _construct(cb: (err?: Error | null) => void): void {
    // `wx`: never write through a file or link that is already there.
    open(this.file, 'wx', 0o600, (err, fd) => {
      if (err) return cb(err);
      this.fd = fd;
      cb();
    });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    write(this.fd, chunk, 0, chunk.length, null, (err, n) => this.wrote(err, n, cb));
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    writev(this.fd, chunks.map((c) => c.chunk), null, (err, n) => this.wrote(err, n, cb));
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.fd < 0) return cb(err);
    close(this.fd, (closeErr) => cb(err ?? closeErr));
  }

  private wrote(err: NodeJS.ErrnoException | null, n: number, cb: (err?: Error | null) => void): void {
    if (err) return cb(err);
    this.written += n;
    this.onBytes?.(n);
    if (this.written - this.notified >= NOTIFY_EVERY) {
      this.notified = this.written;
      this.follower.grew(this.written);
    }
    cb();
  }
}
