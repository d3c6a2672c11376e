import { TransportError } from "../transport/errors.js";
import type { RelayClient } from "../transport/relayClient.js";
import { hex } from "./core.js";

const bytes = (h: string) => new Uint8Array(Buffer.from(h, "hex"));

/** What the registry asks of the relay client. */
export type Subscriptions = Pick<RelayClient, "subscribe" | "unsubscribe" | "refetch">;

/**
 * The channels this agent follows on the relay: which group (by id) is which channel, how far
 * each channel's stream is applied (its cursor), how far the relay is known to hold (its head),
 * and how often a group was adopted (frames queued for an earlier membership are stale).
 */
export class ChannelRegistry {
  /** Group id (hex) → channel name. */
  private readonly byGroup = new Map<string, string>();
  /** Channel → the highest seq of its stream applied. */
  private readonly processed = new Map<string, number>();
  /** Channel → the highest seq it is known to hold (from our own acks and subscriptions). */
  private readonly heads = new Map<string, number>();
  /** Group id (hex) → how often it was adopted. */
  private readonly incarnations = new Map<string, number>();

  /** Told when the relay refuses to deliver a channel: nothing of it would arrive, so someone must hear. */
  private refused: (channel: string, why: string) => void = () => {};

  constructor(private readonly relay: Subscriptions) {}

  whenRefused(listener: (channel: string, why: string) => void): void {
    this.refused = listener;
  }

  channelOf(groupHex: string): string | undefined {
    return this.byGroup.get(groupHex);
  }

  groupOf(channel: string): string | undefined {
    return [...this.byGroup].find(([, c]) => c === channel)?.[0];
  }

  /** The cursor of the channel a group id belongs to (what the relay client resumes from). */
  cursorOfGroup(groupId: Uint8Array): number | undefined {
    const channel = this.byGroup.get(hex(groupId));
    return channel === undefined ? undefined : this.processed.get(channel);
  }

  processedOf(channel: string): number | undefined {
    return this.processed.get(channel);
  }

  /** The seq the channel's stream expects next. */
  nextSeq(channel: string): number {
    return Math.max((this.processed.get(channel) ?? -1) + 1, 1);
  }

  /** Whether the stream has applied `seq` (false for a channel not followed). */
  reached(channel: string, seq: number): boolean {
    return (this.processed.get(channel) ?? -1) >= seq;
  }

  /** Whether the stream has applied everything the channel is known to hold (seqs start at 1: an empty channel's head is 0). */
  caughtUp(channel: string): boolean {
    const head = this.heads.get(channel) ?? -1;
    return Math.max(this.processed.get(channel) ?? head, 0) >= head;
  }

  markProcessed(channel: string, seq: number): void {
    const last = this.processed.get(channel);
    if (last !== undefined && seq > last) this.processed.set(channel, seq);
  }

  noteHead(channel: string | undefined, seq: number): void {
    if (channel !== undefined && seq > (this.heads.get(channel) ?? -1)) this.heads.set(channel, seq);
  }

  incarnation(groupHex: string): number {
    return this.incarnations.get(groupHex) ?? 0;
  }

  /** A group held since before this process started: followed from its stored cursor. */
  restore(channel: string, groupId: Uint8Array, cursor: number): void {
    this.byGroup.set(hex(groupId), channel);
    this.processed.set(channel, cursor);
    this.follow(groupId);
  }

  /** A group just created or joined: a new membership, followed from `cursor`. */
  adopt(channel: string, groupId: Uint8Array, cursor: number): void {
    const key = hex(groupId);
    this.incarnations.set(key, (this.incarnations.get(key) ?? 0) + 1);
    this.restore(channel, groupId, cursor);
  }

  /** The channel's group is gone: stop following it. */
  forget(channel: string): void {
    for (const [g, c] of this.byGroup) {
      if (c !== channel) continue;
      this.relay.unsubscribe(bytes(g));
      this.byGroup.delete(g);
    }
    this.processed.delete(channel);
    this.heads.delete(channel);
  }

  /** Asks the relay for the channel's frames again from `fromSeq`. */
  refetch(channel: string, fromSeq: number): void {
    for (const [g, c] of this.byGroup) {
      if (c === channel) this.relay.refetch(bytes(g), BigInt(fromSeq));
    }
  }

  private follow(groupId: Uint8Array): void {
    void this.relay.subscribe(groupId, BigInt((this.cursorOfGroup(groupId) ?? -1) + 1)).then(
      (last) => this.noteHead(this.byGroup.get(hex(groupId)), Number(last)),
      (error: unknown) => {
        const channel = this.byGroup.get(hex(groupId));
        // Closing, or unsubscribed meanwhile: not a refusal.
        if (channel === undefined || !(error instanceof TransportError) || error.code !== "rejected") return;
        this.refused(channel, error.message);
      },
    );
  }
}
