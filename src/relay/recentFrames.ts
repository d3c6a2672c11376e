/**
 * What the relay keeps in memory about a channel's newest frames: its last seq and epoch, and the message
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
    /** The channel's epoch (null: no proposal or commit yet), kept with the window for the Msg age check. */
    public epoch: bigint | null = null,
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
  /** The channel used last (most batches carry one busy channel): found without building its key. */
  private last: { readonly id: Buffer; readonly frames: RecentFrames } | undefined;

  constructor(private readonly maxChannels: number) {}

  /** The channel's window, made by `load` (and kept) if it is not held. */
  get(channel: Uint8Array, load: () => RecentFrames): RecentFrames {
    const id = Buffer.from(channel.buffer, channel.byteOffset, channel.byteLength);
    if (this.last !== undefined && this.last.id.equals(id)) return this.last.frames;
    const key = id.toString("latin1");
    let frames = this.channels.get(key);
    if (frames !== undefined) this.channels.delete(key);
    else frames = load();
    this.channels.set(key, frames);
    if (this.channels.size > this.maxChannels) this.channels.delete(this.channels.keys().next().value as string);
    this.last = { id: Buffer.from(id), frames };
    return frames;
  }

  /** Forgets everything; the next use of each channel reads it back from storage. */
  clear(): void {
    this.channels.clear();
    this.last = undefined;
  }
}
