/** How much of the relay's stream an agent holds before applying it. */
export interface BacklogLimits {
  readonly frames: number;
  readonly bytes: number;
}

/** 2,048 frames (eight full receive batches) or 32 MiB of payload, whichever comes first. */
export const DEFAULT_BACKLOG: BacklogLimits = { frames: 2048, bytes: 32 * 1024 * 1024 };

export type BacklogAdmission = { readonly kind: "queued" } | { readonly kind: "dropped"; readonly first: boolean };

/**
 * Bounds the frames the relay has delivered and the agent has not applied yet. A relay may send
 * faster than the agent applies (a flood, a slow or full disk); past the bound, the frames of
 * the stream that hit it are dropped, and that stream is fetched again from its cursor once none
 * of its frames is queued any more. The archive keeps them, so dropping loses nothing; streams
 * are keyed by the caller (a channel, or the inbox).
 */
export class StreamBacklog {
  private frames = 0;
  private bytes = 0;
  /** Queued frames per stream. */
  private readonly queued = new Map<string, number>();
  /** Streams whose frames are being dropped until they are fetched again. */
  private readonly behind = new Set<string>();

  constructor(private readonly limits: BacklogLimits = DEFAULT_BACKLOG) {
    if (!(limits.frames >= 1 && limits.bytes >= 1)) throw new RangeError("backlog limits must be at least 1");
  }

  /**
   * Whether a frame of `stream` carrying `size` bytes joins the queue. Once a stream's frame is
   * dropped, all its later frames are too (applying a later one first would break its order).
   * An empty queue takes any one frame: the transport bounds a single frame's size.
   */
  admit(stream: string, size: number): BacklogAdmission {
    if (this.behind.has(stream)) return { kind: "dropped", first: false };
    if (this.frames > 0 && (this.frames + 1 > this.limits.frames || this.bytes + size > this.limits.bytes)) {
      this.behind.add(stream);
      return { kind: "dropped", first: true };
    }
    this.frames++;
    this.bytes += size;
    this.queued.set(stream, (this.queued.get(stream) ?? 0) + 1);
    return { kind: "queued" };
  }

  /**
   * `frames` queued frames of `stream` carrying `bytes` were applied (or skipped). Returns the
   * streams to fetch again now: those behind with nothing of theirs queued. Waiting only for its
   * own frames (not the whole queue) keeps a busy channel from starving one that fell behind.
   */
  done(stream: string, frames: number, bytes: number): string[] {
    this.frames -= frames;
    this.bytes -= bytes;
    const left = (this.queued.get(stream) ?? 0) - frames;
    if (left > 0) this.queued.set(stream, left);
    else this.queued.delete(stream);
    if (this.behind.size === 0) return [];
    const resumed = [...this.behind].filter((s) => !this.queued.has(s));
    for (const s of resumed) this.behind.delete(s);
    return resumed;
  }

  /** Frames and payload bytes queued now. */
  get size(): { readonly frames: number; readonly bytes: number } {
    return { frames: this.frames, bytes: this.bytes };
  }
}
