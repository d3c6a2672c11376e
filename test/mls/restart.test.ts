import { describe, expect, it } from "vitest";
import { ChannelStream, openAgent, restart, text, untext, type TestAgent } from "../helpers.js";

const CHANNEL = "acme/ops/restart";

describe("restarting between every step", () => {
  it("continues a conversation without loss and without reusing a generation", async () => {
    const alice = await openAgent("alice");
    const bob = await openAgent("bob");
    const stream = new ChannelStream(CHANNEL);
    const both = [alice, bob];
    const restartAll = async () => {
      for (const a of both) await restart(a);
    };

    await alice.mls.createChannel(CHANNEL);
    await restartAll();
    const kp = await bob.mls.createKeyPackage();
    await restartAll();
    const add = await alice.mls.addMembers(CHANNEL, [kp]);
    await restartAll(); // the pending commit survives the restart
    expect((await alice.mls.channelInfo(CHANNEL)).pendingCommit).toBe(true);
    await stream.publish(add.commit, [alice]);
    await restartAll();
    await bob.mls.join(add.welcome!, 0);
    await restartAll();

    const seen: Record<string, string[]> = { alice: [], bob: [] };
    for (let i = 0; i < 12; i++) {
      const [from, to]: TestAgent[] = i % 3 === 2 ? [bob, alice] : [alice, bob];
      const bytes = await from!.mls.encrypt(CHANNEL, text(`${from!.name} #${i}`));
      await restartAll();
      const outcomes = await stream.publish(bytes, [to!]);
      for (const o of outcomes) {
        expect(o.kind).toBe("application"); // a reused generation would fail here ("gen in the past")
        if (o.kind === "application") seen[to!.name]!.push(untext(o.payloads[0]!));
      }
      await restartAll();
      if (i === 5) {
        const update = await bob.mls.selfUpdate(CHANNEL);
        await restartAll();
        await stream.publish(update.commit, [bob, alice]);
        await restartAll();
      }
    }
    expect(seen.bob).toEqual([0, 1, 3, 4, 6, 7, 9, 10].map((i) => `alice #${i}`));
    expect(seen.alice).toEqual([2, 5, 8, 11].map((i) => `bob #${i}`));
    // Replays after a restart are still refused: the relay cursor and the ratchet both persisted.
    const inbox = bob.store.undelivered(CHANNEL, 100);
    expect(inbox.map((m) => untext(m.plaintext))).toEqual(seen.bob);
    const [a, b] = [await alice.mls.channelInfo(CHANNEL), await bob.mls.channelInfo(CHANNEL)];
    expect(a.epoch).toBe(b.epoch);
    expect(Buffer.from(a.epochAuthenticator)).toEqual(Buffer.from(b.epochAuthenticator));
  });
});
