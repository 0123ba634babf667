/**
 * A token bucket on the bytes a client sends (what ejabberd calls a shaper, Prosody's mod_limits): the
 * bucket holds up to `burstBytes` and refills at `bytesPerSecond`. A stream that has read more than its
 * bucket held stops reading until the debt is paid back, so TCP flow control slows the client down;
 * nothing is dropped and no error is sent. What was read is parsed first: a read of up to one socket
 * chunk (64 KB) may overshoot the bucket, and the pause that follows is longer by as much.
 */
export class ReadShaper {
  private tokens: number;
  private last: number;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly burstBytes: number,
    now: number,
  ) {
    this.tokens = burstBytes;
    this.last = now;
  }

  /** Count `bytes` read at `now` (ms); the milliseconds to stop reading for, 0 to go on. */
  take(bytes: number, now: number): number {
    const refill = ((now - this.last) * this.bytesPerSecond) / 1000;
    this.last = now;
    this.tokens = Math.min(this.burstBytes, this.tokens + refill) - bytes;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.bytesPerSecond);
  }
}
