import type { CommitIntents } from "./commitIntents.js";
import type { Core } from "./core.js";
import type { Leaving } from "./leaving.js";
import type { ChannelState } from "./types.js";

const DEFAULT_ROTATION = { messages: 100, ms: 60 * 60 * 1000 };

/**
 * Key rotation: a self-update commit after so many sent messages or so long, per channel, checked
 * on each send and, for the time, whenever receive returns messages of the channel (a member that
 * only listens rotates too). The time of the last rotation is kept in the data dir; the message
 * count lives here and starts again on a restart. At most one rotation in flight per channel.
 */
export class Rotation {
  private readonly sentSince = new Map<string, { count: number; since: number }>();
  private readonly rotating = new Set<string>();

  constructor(
    private readonly core: Core,
    private readonly commits: CommitIntents,
    private readonly leaving: Leaving,
  ) {}

  /** A message was sent on the channel. */
  countSend(channel: string): void {
    const rotation = this.limits();
    const now = this.now();
    const entry = this.entry(channel, now);
    entry.count++;
    if (entry.count >= rotation.messages || now - entry.since >= rotation.ms) this.rotate(channel, now);
  }

  /** A member that only listens also rotates on time, when it reads messages of the channel. */
  rotateIfDue(channel: string): void {
    if (!this.core.mls.channels().includes(channel) || this.leaving.has(channel)) return;
    const now = this.now();
    if (now - this.entry(channel, now).since >= this.limits().ms) this.rotate(channel, now);
  }

  /** Rotates now, for a caller that waits for the commit. */
  async rotateNow(channel: string): Promise<ChannelState> {
    const started = this.now();
    this.sentSince.set(channel, { count: 0, since: started });
    const result = await this.commits.run(channel, () => this.core.mls.selfUpdate(channel), []);
    if (result.committed) this.rotated(channel, started);
    return this.core.state(result.channel);
  }

  forget(channel: string): void {
    this.sentSince.delete(channel);
  }

  private limits(): { messages: number; ms: number } {
    return this.core.config.rotation ?? DEFAULT_ROTATION;
  }

  private now(): number {
    return this.core.config.clock?.() ?? Date.now();
  }

  /**
   * Starts a self-update in the background. The counters restart at once (so a burst of sends does
   * not start more, and a failing one is tried again a period later); the time is stored only once
   * the commit is in, so after a restart a rotation that did not happen is due at once.
   */
  private rotate(channel: string, now: number): void {
    this.sentSince.set(channel, { count: 0, since: now });
    if (this.rotating.has(channel) || this.leaving.has(channel)) return;
    this.rotating.add(channel);
    void this.commits
      .run(channel, () => this.core.mls.selfUpdate(channel), [])
      .then(({ committed }) => committed && this.rotated(channel, now))
      .catch((e: unknown) => this.core.quiet(e))
      .finally(() => this.rotating.delete(channel));
  }

  /**
   * Records a rotation that took effect (or, the first time a channel counts, when counting began),
   * so that the hour also counts from it after a restart. The message is handled already: a disk
   * that refuses this small write only delays a rotation.
   */
  private rotated(channel: string, at: number): void {
    try {
      this.core.store.setRotatedAt(channel, at);
    } catch (error) {
      this.core.quiet(error);
    }
  }

  /** This process's counters for a channel; the first time, the time comes from the data dir. */
  private entry(channel: string, now: number): { count: number; since: number } {
    let entry = this.sentSince.get(channel);
    if (entry === undefined) {
      let recorded: number | undefined;
      try {
        recorded = this.core.store.rotatedAt(channel);
      } catch (error) {
        this.core.quiet(error);
      }
      if (recorded === undefined) this.rotated(channel, now);
      entry = { count: 0, since: recorded ?? now };
      this.sentSince.set(channel, entry);
    }
    return entry;
  }
}
