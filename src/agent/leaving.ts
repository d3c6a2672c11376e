import type { Core } from "./core.js";
import { withTimeout } from "./relayAnswers.js";

const LEAVE_ATTEMPTS = 6;

/**
 * Leaving a channel: a self-remove proposal that another member commits (MLS forbids committing
 * your own removal). Owns the channels this agent asked to leave: the request is repeated after
 * any commit that dropped it, and sending there is refused meanwhile.
 */
export class Leaving {
  private readonly channels = new Set<string>();

  constructor(private readonly core: Core) {}

  has(channel: string): boolean {
    return this.channels.has(channel);
  }

  async leave(channel: string): Promise<{ channel: string; status: "left" | "leave_requested" }> {
    const { mls, progress } = this.core;
    await mls.channelInfo(channel);
    this.channels.add(channel);
    await this.request(channel);
    try {
      await progress.until(() => !mls.channels().includes(channel), 5000, "");
      return { channel, status: "left" as const };
    } catch {
      return { channel, status: "leave_requested" as const };
    }
  }

  /** A commit that did not remove us dropped our leave proposal with its epoch: ask again. */
  requestAgain(channel: string): void {
    if (this.channels.has(channel)) void this.request(channel).catch((e: unknown) => this.core.quiet(e));
  }

  forget(channel: string): void {
    this.channels.delete(channel);
  }

  /** Sends a self-remove proposal, again after a nack once the newer epoch is applied. */
  private async request(channel: string): Promise<void> {
    const { mls, relay, channels, progress, sendTimeoutMs } = this.core;
    for (let attempt = 0; attempt < LEAVE_ATTEMPTS && mls.channels().includes(channel); attempt++) {
      const verdict = await withTimeout(relay.sendProposal(await mls.proposeLeave(channel)), sendTimeoutMs, "the leave request is queued");
      if (verdict.kind === "ack") return;
      await progress.until(() => channels.reached(channel, Number(verdict.winningSeq)), 30_000, "the relay did not deliver the commit that won", "relay_unreachable");
    }
  }
}
