import { describe, expect, it } from "vitest";
import { GroupCache } from "../../src/mls/groupCache.js";
import { openAgent, text } from "../helpers.js";

const CHANNEL = "acme/test/cache";

describe("GroupCache", () => {
  it("defers a batch's writes until it is flushed, and any other write flushes them first", async () => {
    const alice = await openAgent("alice");
    await alice.mls.createChannel(CHANNEL);
    const cache = new GroupCache(alice.store);
    const entry = cache.load(CHANNEL);
    expect(cache.load(CHANNEL)).toBe(entry);
    const row = { channel: CHANNEL, seq: 3, epoch: 0n, sender: "bob", senderDid: "f", plaintext: text("\u0000hi"), receivedAt: 1 };
    cache.beginBatch(entry);
    cache.persist(entry, { cursor: 3, inbox: [row] }, []);
    // Memory is ahead; nothing of the batch is visible in the store yet.
    expect(entry.cursor).toBe(3);
    expect(alice.store.loadGroup(CHANNEL)?.cursor).toBe(-1);
    expect(alice.store.countUndelivered(CHANNEL)).toBe(0);
    // Another write of the channel cannot overtake the batch.
    cache.apply({ channel: CHANNEL, cursor: 4 });
    expect(alice.store.countUndelivered(CHANNEL)).toBe(1);
    expect(alice.store.loadGroup(CHANNEL)?.cursor).toBe(4);
    cache.persist(entry, { cursor: 5 }, []);
    cache.flushDeferred(entry);
    expect(alice.store.loadGroup(CHANNEL)?.cursor).toBe(5);
    cache.endBatch(entry);
    // Outside a batch a step is written at once and its consumed secrets are zeroed.
    const secret = new Uint8Array([7, 7]);
    cache.persist(entry, { cursor: 6 }, [secret]);
    expect(alice.store.loadGroup(CHANNEL)?.cursor).toBe(6);
    expect([...secret]).toEqual([0, 0]);
  });

  it("refuses a second group of a name, and reads an evicted group back from the store", async () => {
    const alice = await openAgent("alice");
    await alice.mls.createChannel(CHANNEL);
    const cache = new GroupCache(alice.store);
    expect(() => cache.assertAbsent(CHANNEL)).toThrow(/exists on this agent already/);
    const entry = cache.load(CHANNEL);
    expect(cache.holds(entry)).toBe(true);
    cache.evict(CHANNEL);
    expect(cache.holds(entry)).toBe(false);
    expect(cache.load(CHANNEL)).not.toBe(entry);
    expect(() => cache.load("acme/test/none")).toThrow(/no channel/);
    await expect(cache.locked(CHANNEL, async () => cache.active(CHANNEL).channel)).resolves.toBe(CHANNEL);
  });
});
