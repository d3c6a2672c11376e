import type { ChannelWarning, ChannelWarningCode } from "./types.js";

/** Warnings kept for receive() at most; older ones go first (they are in the log as well). */
const MAX_WARNINGS = 100;

/** What the agent detected on its channels (the relay misbehaving, messages not delivered), until receive() hands it out. */
export class ChannelWarnings {
  private readonly warnings: ChannelWarning[] = [];

  constructor(private readonly log: (line: string) => void) {}

  warn(channel: string, code: ChannelWarningCode, message: string, seq?: number): void {
    this.log(`${code} on ${channel}${seq === undefined ? "" : ` at seq ${seq}`}`);
    // The same warning still unread says nothing new, and a flood of them (many queued messages
    // refused) must not push other warnings out before anyone reads them.
    if (this.warnings.some((w) => w.channel === channel && w.code === code && w.message === message && w.seq === seq)) return;
    this.warnings.push({ channel, code, message, seq });
    if (this.warnings.length > MAX_WARNINGS) this.warnings.shift();
  }

  has(channel: string | undefined): boolean {
    return this.warnings.some((w) => channel === undefined || w.channel === channel);
  }

  /** Hands out (once) the warnings of a channel, or of all channels. */
  take(channel: string | undefined): ChannelWarning[] {
    const taken = this.warnings.filter((w) => channel === undefined || w.channel === channel);
    const kept = this.warnings.filter((w) => !taken.includes(w));
    this.warnings.splice(0, this.warnings.length, ...kept);
    return taken;
  }
}
