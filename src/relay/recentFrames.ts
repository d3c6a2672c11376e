/**
 * What the relay keeps in memory about a channel's newest frames: its last seq, and the message
 * ids of its last `size` frames (to drop a client's retry without a unique index on disk, whose
 * random inserts cost more than the rest of an append). A retry older than the window is not
 * recognised and is archived again.
 */
export class RecentFrames {
  /** Message id (16 bytes as a latin1 string) to the seq it was archived with. */
  private readonly ids = new Map<string, number>();
  /** The window's ids by seq modulo `size`, to forget the oldest one as a new one comes in. */
  private readonly ring: (string | undefined)[] = [];

  constructor(
    private readonly size: number,
    /** The channel's highest seq ever given out (0: none). */
    public lastSeq: number,
    /** Whether the channel has its row in the channels table yet. */
    public stored: boolean,
  ) {}

  seqOf(id: string): number | undefined {
    return this.ids.get(id);
  }

  /** Records `id` at `seq`, which must be the next seq: `lastSeq + 1`. */
  add(seq: number, id: string): void {
    this.remember(seq, id);
    this.lastSeq = seq;
  }

  /** Fills the window from archived frames, oldest first; the seqs stay at or below `lastSeq`. */
  remember(seq: number, id: string): void {
    const slot = seq % this.size;
    const old = this.ring[slot];
    // The same id can be archived twice (a retry from beyond the window): keep the newest seq.
    if (old !== undefined && this.ids.get(old) === seq - this.size) this.ids.delete(old);
    this.ring[slot] = id;
    this.ids.set(id, seq);
  }
}

/** The RecentFrames of at most `maxChannels` channels, the least recently used dropped first. */
export class RecentFramesCache {
  private readonly channels = new Map<string, RecentFrames>();

  constructor(private readonly maxChannels: number) {}

  get(channel: string): RecentFrames | undefined {
    const frames = this.channels.get(channel);
    if (frames !== undefined) {
      this.channels.delete(channel);
      this.channels.set(channel, frames);
    }
    return frames;
  }

  set(channel: string, frames: RecentFrames): void {
    this.channels.delete(channel);
    this.channels.set(channel, frames);
    if (this.channels.size > this.maxChannels) this.channels.delete(this.channels.keys().next().value as string);
  }

  /** Forgets everything; the next use of each channel reads it back from storage. */
  clear(): void {
    this.channels.clear();
  }
}
