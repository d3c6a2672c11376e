import { describe, expect, it } from "vitest";
import { ChannelRegistry, type Subscriptions } from "../../src/agent/channelRegistry.js";
import { ChannelWarnings } from "../../src/agent/channelWarnings.js";
import { QueuedTexts } from "../../src/agent/queuedTexts.js";
import { TransportError } from "../../src/transport/errors.js";
import { openAgent, text } from "../helpers.js";

const CHANNEL = "acme/test/queued";
/** A text as a send asked for it, at `sentAt` by the sender's clock. */
const out = (t: string, sentAt = 1_000) => ({ text: t, sentAt });
const refusal = (relayCode: string) => new TransportError("rejected", `the relay reported ${relayCode}`, { relayCode });

/** QueuedTexts over a real channel's messages; `resent` collects what it encrypts again. */
async function setup(maxOrphaned?: number) {
  const alice = await openAgent("alice");
  const info = await alice.mls.createChannel(CHANNEL);
  const relay: Subscriptions = { subscribe: async () => 0n, unsubscribe: () => undefined, refetch: () => undefined };
  const channels = new ChannelRegistry(relay);
  channels.restore(CHANNEL, info.groupId, 0);
  const lines: string[] = [];
  const warnings = new ChannelWarnings((line) => lines.push(line));
  const resent: string[] = [];
  const queued = new QueuedTexts(
    { config: { name: "alice", ...(maxOrphaned === undefined ? {} : { maxOrphaned }) }, log: (line) => lines.push(line), channels, warnings },
    async () => undefined,
    (channel, t) => resent.push(`${channel}: ${t.text} @${t.sentAt}`),
  );
  const message = async (t: string) => ({ bytes: await alice.mls.encrypt(CHANNEL, text(t)), payloads: 1 });
  return { queued, warnings, resent, lines, message };
}

describe("QueuedTexts", () => {
  it("a queued message refused as too old is encrypted again, every text it carried", async () => {
    const { queued, resent, warnings, message } = await setup();
    const sealed = await message("x");
    queued.orphan(CHANNEL, sealed, out("first", 1_000));
    queued.orphan(CHANNEL, sealed, out("second", 1_001));
    expect(queued.wasAbandoned(sealed)).toBe(true);
    queued.refused(sealed.bytes, refusal("stale_epoch"), true);
    await new Promise((r) => setImmediate(r));
    // Sent again, each keeps the time it was first sent at.
    expect(resent).toEqual([`${CHANNEL}: first @1000`, `${CHANNEL}: second @1001`]);
    expect(warnings.has(CHANNEL)).toBe(false);
  });

  it("one seen archived in the stream is not sent again, and its refused copy is no news", async () => {
    const { queued, resent, warnings, lines, message } = await setup();
    const sealed = await message("x");
    queued.orphan(CHANNEL, sealed, out("text"));
    queued.seenInStream(sealed.bytes);
    queued.refused(sealed.bytes, refusal("stale_epoch"), true);
    await new Promise((r) => setImmediate(r));
    expect(resent).toEqual([]);
    expect(warnings.has(CHANNEL)).toBe(false);
    expect(lines.at(-1)).toMatch(/had archived was refused \(stale_epoch\)/);
  });

  it("a refusal that cannot be answered by sending again is reported on the channel; one the relay took is not", async () => {
    const { queued, resent, warnings, message } = await setup(1);
    const forbidden = await message("a");
    queued.orphan(CHANNEL, forbidden, out("a"));
    queued.refused(forbidden.bytes, refusal("forbidden"), true);
    expect(warnings.take(CHANNEL).map((w) => w.code)).toEqual(["message_not_delivered"]);
    // Past the bound the oldest text is let go: its refusal can only be reported.
    const evicted = await message("b");
    queued.orphan(CHANNEL, evicted, out("b"));
    queued.orphan(CHANNEL, await message("c"), out("c"));
    queued.refused(evicted.bytes, refusal("stale_epoch"), true);
    expect(warnings.take(CHANNEL).map((w) => w.code)).toEqual(["message_not_delivered"]);
    // Taken by the relay: a later refusal its waiting caller hears itself is nobody else's news.
    const taken = await message("d");
    queued.orphan(CHANNEL, taken, out("d"));
    queued.taken(taken.bytes);
    queued.refused(taken.bytes, refusal("stale_epoch"), false);
    // A link failure is no answer at all.
    queued.refused(taken.bytes, new TransportError("disconnected", "gone"), true);
    await new Promise((r) => setImmediate(r));
    expect(resent).toEqual([]);
    expect(warnings.has(CHANNEL)).toBe(false);
  });
});
