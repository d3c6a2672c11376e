import type { ChannelWarning, ChannelWarningCode } from "./types.js";

/** Warnings kept for receive() at most; older ones go first (they are in the log as well). */
const MAX_WARNINGS = 100;

/**
 * What the agent knows about channels whose view may have split from the other members': joins
 * not yet confirmed by anyone else's frame, and channels with frames at their epoch that they
 * cannot read. In memory (the agent keeps provisional joins in its
 * store too); after a restart the evidence of a split is gathered again from the stream.
 */
export class ForkWatch {
  private readonly warnings: ChannelWarning[] = [];
  /** Channel → key package kept by a join that no other member's frame has confirmed yet. */
  private readonly provisional = new Map<string, Uint8Array>();
  private readonly forked = new Set<string>();

  constructor(private readonly log: (line: string) => void) {}

  warn(channel: string, code: ChannelWarningCode, message: string, seq?: number): void {
    this.log(`${code} on ${channel}${seq === undefined ? "" : ` at seq ${seq}`}`);
    // The same warning still unread says nothing new, and a flood of them (many queued messages
    // refused) must not push other warnings out before anyone reads them.
    if (this.warnings.some((w) => w.channel === channel && w.code === code && w.message === message && w.seq === seq)) return;
    this.warnings.push({ channel, code, message, seq });
    if (this.warnings.length > MAX_WARNINGS) this.warnings.shift();
  }

  hasWarnings(channel: string | undefined): boolean {
    return this.warnings.some((w) => channel === undefined || w.channel === channel);
  }

  /** Hands out (once) the warnings of a channel, or of all channels. */
  takeWarnings(channel: string | undefined): ChannelWarning[] {
    const taken = this.warnings.filter((w) => channel === undefined || w.channel === channel);
    const kept = this.warnings.filter((w) => !taken.includes(w));
    this.warnings.splice(0, this.warnings.length, ...kept);
    return taken;
  }

  joinedProvisionally(channel: string, keyPackageRef: Uint8Array): void {
    this.provisional.set(channel, keyPackageRef);
  }

  /** Another member's frame was processed at our epoch: the join was real. Returns its key package to use up. */
  confirm(channel: string): Uint8Array | undefined {
    const ref = this.provisional.get(channel);
    if (ref === undefined) return undefined;
    this.provisional.delete(channel);
    return ref;
  }

  isProvisional(channel: string): boolean {
    return this.provisional.has(channel);
  }

  markForked(channel: string): void {
    this.forked.add(channel);
  }

  isForked(channel: string): boolean {
    return this.forked.has(channel);
  }

  forget(channel: string): void {
    this.provisional.delete(channel);
    this.forked.delete(channel);
  }
}
