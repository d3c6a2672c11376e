import { zeroOutUint8Array, type ClientState } from "ts-mls";
import { addHistoricalReceiverData } from "ts-mls/clientState.js";
import { MlsError } from "./errors.js";
import { decodeEntry, stateRecord, wipe, type GroupEntry } from "./groupEntry.js";
import { KeyedMutex } from "./mutex.js";
import type { GroupChange, InboxMessage, MlsStatePort } from "../store/records.js";

/**
 * The decoded groups of one agent, the lock that lets one operation at a time touch each, and
 * every write of their state to the store. Decoding is slow, so groups stay in memory and each
 * change is written through; a batch of received frames defers its writes to one transaction.
 */
export class GroupCache {
  private readonly groups = new Map<string, GroupEntry>();
  private readonly mutex = new KeyedMutex();

  constructor(private readonly port: MlsStatePort) {}

  /** Runs `fn` alone on the channel's group (ts-mls states are values: two operations would reuse a generation). */
  locked<T>(channel: string, fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(channel, fn);
  }

  /** The cached group, decoding it from the store on first use. */
  load(channel: string): GroupEntry {
    const cached = this.groups.get(channel);
    if (cached !== undefined) return cached;
    const stored = this.port.loadGroup(channel);
    if (stored === undefined) throw new MlsError("not_found", `no channel '${channel}' on this agent`);
    const entry = decodeEntry(stored);
    this.groups.set(channel, entry);
    return entry;
  }

  /** The group, if this agent is still an active member of it. */
  active(channel: string): GroupEntry {
    const entry = this.load(channel);
    if (entry.state.groupActiveState.kind !== "active") {
      throw new MlsError("not_member", `this agent is no longer a member of '${channel}'`);
    }
    return entry;
  }

  /** Whether `entry` is still the cached group of its channel (it goes when the group is left). */
  holds(entry: GroupEntry): boolean {
    return this.groups.get(entry.channel) === entry;
  }

  isCached(channel: string): boolean {
    return this.groups.has(channel);
  }

  /** Drops the cached group: it is gone, or memory must be read again from the store. */
  evict(channel: string): void {
    this.groups.delete(channel);
  }

  assertAbsent(channel: string): void {
    if (this.groups.has(channel) || this.port.loadGroup(channel) !== undefined) {
      throw new MlsError("already_exists", `channel '${channel}' exists on this agent already`);
    }
  }

  /** Stores a new group (and uses up the key package it was joined with) and caches it. */
  install(channel: string, state: ClientState, cursor: number, consumeKeyPackage?: Uint8Array): GroupEntry {
    this.port.apply({ channel, state: stateRecord(state), cursor, pending: null, ...(consumeKeyPackage ? { consumeKeyPackage } : {}) });
    const entry: GroupEntry = { channel, state, cursor, pending: undefined };
    this.groups.set(channel, entry);
    return entry;
  }

  /** Every store write of a channel goes through here, after what a batch deferred. */
  apply(change: GroupChange): void {
    const entry = this.groups.get(change.channel);
    if (entry !== undefined) this.flushDeferred(entry);
    this.port.apply(change);
  }

  /**
   * Stores a step's state, cursor and inbox rows (or, inside a batch, adds them to it) and then
   * zeroes its consumed secrets.
   */
  persist(
    entry: GroupEntry,
    change: { state?: ClientState; cursor: number; inbox?: InboxMessage[]; bufferRemove?: number[] },
    consumed: Uint8Array[],
  ): void {
    const { deferred } = entry;
    if (deferred === undefined) {
      const { state, ...rest } = change;
      this.port.apply({ channel: entry.channel, ...rest, ...(state ? { state: stateRecord(state) } : {}) });
      consumed.forEach(wipe);
    } else {
      deferred.state = change.state ?? deferred.state;
      deferred.cursor = change.cursor;
      deferred.inbox.push(...(change.inbox ?? []));
      deferred.bufferRemove.push(...(change.bufferRemove ?? []));
      deferred.consumed.push(...consumed);
    }
    if (change.state) entry.state = change.state;
    entry.cursor = change.cursor;
  }

  /** Writes of `entry` go to the batch from now until flushDeferred / endBatch. */
  beginBatch(entry: GroupEntry): void {
    entry.deferred = { state: undefined, cursor: undefined, inbox: [], bufferRemove: [], consumed: [] };
  }

  endBatch(entry: GroupEntry): void {
    entry.deferred = undefined;
  }

  /** Writes what a batch deferred (if anything), so that a later write cannot overtake it. */
  flushDeferred(entry: GroupEntry): void {
    const d = entry.deferred;
    if (d === undefined || (d.state === undefined && d.cursor === undefined && d.bufferRemove.length === 0)) return;
    this.beginBatch(entry);
    this.port.apply({
      channel: entry.channel,
      ...(d.state ? { state: stateRecord(d.state) } : {}),
      ...(d.cursor !== undefined ? { cursor: d.cursor } : {}),
      inbox: d.inbox,
      bufferRemove: d.bufferRemove,
    });
    d.consumed.forEach(wipe);
  }

  /** A state change that also moves the cursor, after which its consumed secrets are zeroed. */
  advance(entry: GroupEntry, state: ClientState, cursor: number, consumed: Uint8Array[]): void {
    entry.state = state;
    entry.cursor = cursor;
    consumed.forEach(zeroOutUint8Array);
  }

  /** Our pending commit becomes the current state (the relay ordered it). */
  confirmPending(entry: GroupEntry, cursor = entry.cursor): void {
    const { pending } = entry;
    if (pending === undefined) throw new MlsError("no_pending_commit", `no commit pending on '${entry.channel}'`);
    // The pending state's copy of the old epoch's receive keys dates from when the commit was
    // built; messages processed since then advanced them. Take the current ones.
    const [historicalReceiverData] = addHistoricalReceiverData(entry.state);
    const state: ClientState = { ...pending.newState, historicalReceiverData };
    this.apply({ channel: entry.channel, state: stateRecord(state), pending: null, cursor });
    entry.state = state;
    entry.cursor = cursor;
    entry.pending = undefined;
    pending.consumed.forEach(zeroOutUint8Array);
  }
}
