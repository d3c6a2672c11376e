import { randomBytes } from "node:crypto";
import { afterEach } from "vitest";
import { RelayClient, type RelayClientOptions } from "../../src/transport/relayClient.js";
import { DEFAULT_COVER, type Timers } from "../../src/wire/cover.js";
import { testIdentity } from "../identity.js";
import { FakeRelay, type FakeRelayOptions } from "./fakeRelay.js";

export { tempDir } from "../helpers.js";

/** Closed after each test, newest first. */
export const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The test relay on 127.0.0.1, closed after the test. */
export async function startFakeRelay(options: FakeRelayOptions = {}): Promise<FakeRelay> {
  const r = await FakeRelay.start(options);
  cleanups.push(() => r.close());
  return r;
}

/** A client of `r` as "alice" with fast reconnects and no cover, closed after the test. */
export function clientOf(r: FakeRelay, options: Partial<RelayClientOptions> = {}): RelayClient {
  const c = new RelayClient({
    url: r.url,
    agent: options.agent ?? "alice",
    identity: testIdentity(options.agent ?? "alice"),
    relayKey: r.key.publicKey,
    cover: DEFAULT_COVER.off,
    backoff: { baseMs: 10, capMs: 50 },
    ...options,
  });
  cleanups.push(() => c.close());
  return c;
}

export const channelId = () => new Uint8Array(randomBytes(12));

/**
 * The cleartext front of an MLS PrivateMessage (version 1, wire format 2, group id, epoch,
 * content type) followed by `size` filler bytes: enough for the relay to route it.
 */
export function mlsMessage(groupId: Uint8Array, epoch: bigint, contentType: 1 | 2 | 3, size = 64, fill = 0): Uint8Array {
  const header = Buffer.alloc(4 + 1 + groupId.length + 8 + 1);
  header.writeUInt16BE(1, 0);
  header.writeUInt16BE(2, 2);
  header.writeUInt8(groupId.length, 4);
  header.set(groupId, 5);
  header.writeBigUInt64BE(epoch, 5 + groupId.length);
  header.writeUInt8(contentType, 13 + groupId.length);
  return new Uint8Array(Buffer.concat([header, Buffer.alloc(size, fill)]));
}

/** Polls `condition` (real time) until it holds, failing after `ms`. */
export async function waitFor(condition: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Timers a test advances by hand; `now` is their clock. */
export class ManualTimers implements Timers {
  now = 0;
  private nextHandle = 0;
  private readonly due = new Map<number, { at: number; fn: () => void }>();

  setTimeout(fn: () => void, ms: number): unknown {
    const handle = ++this.nextHandle;
    this.due.set(handle, { at: this.now + ms, fn });
    return handle;
  }

  clearTimeout(handle: unknown): void {
    this.due.delete(handle as number);
  }

  /** Timers still scheduled. */
  get pending(): number {
    return this.due.size;
  }

  /** Moves the clock forward, running every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.due) if (entry[1].at <= end && (next === undefined || entry[1].at < next[1].at)) next = entry;
      if (next === undefined) break;
      this.due.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
    }
    this.now = end;
  }
}
