import { describe, expect, it } from "vitest";
import { ChannelRegistry, type Subscriptions } from "../../src/agent/channelRegistry.js";

/** Records what the registry asks of the relay client; each subscription answers `head`. */
function relayWithHead(head: bigint) {
  const calls: string[] = [];
  const relay: Subscriptions = {
    subscribe: async (g, from) => (calls.push(`subscribe ${Buffer.from(g).toString("hex")} ${from}`), head),
    unsubscribe: (g) => void calls.push(`unsubscribe ${Buffer.from(g).toString("hex")}`),
    refetch: (g, from) => void calls.push(`refetch ${Buffer.from(g).toString("hex")} ${from}`),
  };
  return { relay, calls };
}

const G = new Uint8Array([0xab, 0xcd]);

describe("ChannelRegistry", () => {
  it("follows a group from its cursor, learns its head, and is caught up once the stream applied it", async () => {
    const { relay, calls } = relayWithHead(7n);
    const channels = new ChannelRegistry(relay);
    channels.restore("a/b/c", G, 4);
    expect(calls).toEqual(["subscribe abcd 5"]);
    expect(channels.channelOf("abcd")).toBe("a/b/c");
    expect(channels.groupOf("a/b/c")).toBe("abcd");
    expect(channels.cursorOfGroup(G)).toBe(4);
    expect(channels.nextSeq("a/b/c")).toBe(5);
    await Promise.resolve();
    expect(channels.caughtUp("a/b/c")).toBe(false);
    channels.markProcessed("a/b/c", 7);
    expect(channels.caughtUp("a/b/c")).toBe(true);
    expect(channels.reached("a/b/c", 7)).toBe(true);
    // Cursors and heads only move forward.
    channels.markProcessed("a/b/c", 3);
    channels.noteHead("a/b/c", 2);
    expect(channels.processedOf("a/b/c")).toBe(7);
    expect(channels.caughtUp("a/b/c")).toBe(true);
    channels.refetch("a/b/c", 6);
    expect(calls.at(-1)).toBe("refetch abcd 6");
  });

  it("a channel just created, whose relay holds nothing yet (head 0), is caught up", async () => {
    const { relay } = relayWithHead(0n);
    const channels = new ChannelRegistry(relay);
    channels.adopt("a/b/c", G, -1);
    await Promise.resolve();
    expect(channels.caughtUp("a/b/c")).toBe(true);
  });

  it("counts each adoption as a new incarnation and forgets a channel entirely", () => {
    const { relay, calls } = relayWithHead(0n);
    const channels = new ChannelRegistry(relay);
    expect(channels.incarnation("abcd")).toBe(0);
    channels.adopt("a/b/c", G, -1);
    expect(channels.incarnation("abcd")).toBe(1);
    expect(channels.nextSeq("a/b/c")).toBe(1);
    channels.forget("a/b/c");
    expect(calls).toEqual(["subscribe abcd 0", "unsubscribe abcd"]);
    expect(channels.channelOf("abcd")).toBeUndefined();
    expect(channels.processedOf("a/b/c")).toBeUndefined();
    expect(channels.reached("a/b/c", 0)).toBe(false);
    channels.adopt("a/b/c", G, 9);
    expect(channels.incarnation("abcd")).toBe(2);
    // Markers for a channel not followed change nothing.
    channels.markProcessed("x/y/z", 5);
    expect(channels.processedOf("x/y/z")).toBeUndefined();
  });
});
