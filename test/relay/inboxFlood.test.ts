// An inbox flood cannot keep Welcomes out (issue 13, point 5): junk sent to bob's inbox used to
// fill it, after which every commit adding bob failed with limit_exceeded. Now one sender's
// relay-through items fill only its share of an inbox, and all senders' together leave a reserve
// that only Welcomes take. Scaled down (an inbox of 40, a share of 20, a reserve of 10).
import { expect, it } from "vitest";
import { DEFAULT_LIMITS } from "../../src/relay/config.js";
import type { Envelope, EnvelopeOf } from "../../src/wire/envelope.js";
import { groupOf, openAgent } from "../helpers.js";
import { testKeyOf } from "../identity.js";
import { eachStore, link, openAtRelay, startRelay } from "./relayFixture.js";

const CHANNEL = "acme/relay/flood";

eachStore("relay: an inbox flood does not keep Welcomes out", (store) => {
  it("mallory's junk stops at her share, mallory2's at the reserve; alice's Welcome for bob is stored and bob joins", async () => {
    const relay = await startRelay({ limits: { ...DEFAULT_LIMITS, maxInboxItems: 40, inboxWelcomeReserve: 10, maxInboxPerSender: 20 } }, store);
    const junk = (): Envelope => ({ type: "JoinRequest", id: 0n, target: { kind: "agent", key: testKeyOf("bob") }, from: new Uint8Array(0), payload: new Uint8Array(200) });
    const flood = async (name: string) => {
      const answers = await Promise.all((await link(relay, name)).requestPacked(Array.from({ length: 30 }, junk)));
      return answers.map((a) => (a.type === "Error" ? a.code : a.type));
    };
    const [first, second] = [await flood("mallory"), await flood("mallory2")];
    expect(first.filter((a) => a === "Ack")).toHaveLength(20);
    expect(second.filter((a) => a === "Ack")).toHaveLength(10);
    expect(new Set([...first, ...second].filter((a) => a !== "Ack"))).toEqual(new Set(["limit_exceeded"]));

    const [[alice], stream] = await groupOf(CHANNEL, "alice");
    const bob = await openAgent("bob");
    const a = await link(relay, "alice");
    await openAtRelay(a, stream);
    const add = await alice!.mls.addMembers(CHANNEL, [await bob.mls.createKeyPackage()]);
    const ack = await a.request({ type: "GroupCommit", id: 0n, commit: add.commit, welcome: { recipients: [testKeyOf("bob")], welcome: add.welcome! }, proof: add.proof });
    expect(ack).toMatchObject({ type: "GroupAck", seq: 1n });

    const b = await link(relay, "bob");
    expect(await b.request({ type: "InboxSubscribe", id: 0n, fromSeq: 1n })).toMatchObject({ type: "Ack", seq: 31n });
    await b.waitFor((pushed) => pushed.length === 31);
    const welcome = b.pushed.at(-1) as EnvelopeOf<"GroupWelcome">;
    expect(welcome).toMatchObject({ type: "GroupWelcome", id: 31n, commitSeq: 1n });
    expect((await bob.mls.join(welcome.welcome, 1)).channel).toBe(CHANNEL);
  });
});
