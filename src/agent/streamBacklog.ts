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
 * the stream that hit it are dropped, and that stream is fetched again from its cursor once
 * everything queued is applied. The archive keeps them, so dropping loses nothing; streams are
 * keyed by the caller (a channel, or the inbox).
 */
export class StreamBacklog {
  private frames = 0;
  private bytes = 0;
  /** Streams whose frames are being dropped until the queue is empty. */
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
    return { kind: "queued" };
  }

  /**
   * `frames` queued frames carrying `bytes` were applied (or skipped). Returns the streams to
   * fetch again: all that fell behind, once nothing is queued any more.
   */
  done(frames: number, bytes: number): string[] {
    this.frames -= frames;
    this.bytes -= bytes;
    if (this.frames > 0 || this.behind.size === 0) return [];
    const resumed = [...this.behind];
    this.behind.clear();
    return resumed;
  }

  /** Frames and payload bytes queued now. */
  get size(): { readonly frames: number; readonly bytes: number } {
    return { frames: this.frames, bytes: this.bytes };
  }
}
