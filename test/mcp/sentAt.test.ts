// sent_at is the sender's clock, carried inside the encrypted message; received_at is the
// receiver's. Messages without a sent time (stored by an older release, or from a member whose
// release does not send it) read as sent_at null.
import { describe, expect, it } from "vitest";
import type { Agent } from "../../src/agent/agent.js";
import { encodeText } from "../../src/agent/messageCodec.js";
import { CHANNEL_NAME_EXTENSION, GENESIS_EXTENSION } from "../../src/mls/keyPackages.js";
import { PACKED_PAYLOADS_CAPABILITY } from "../../src/mls/packedPayloads.js";
import { AgentStore } from "../../src/store/agentStore.js";
import { afterThisTest, agentConfig, openAgent, startRelay } from "../agent/fixture.js";
import { keyPackageAdvertising } from "../helpers.js";
import { connectHost, structured, type Host } from "./harness.js";

const CHANNEL = "acme/agents/clocks";
/** The sender's clock: a fixed, distant time, one ms further at each reading. */
const SENDER_T0 = Date.UTC(2030, 0, 1);

interface Received {
  message: string;
  sent_at: string | null;
  received_at: string;
}

async function hostOf(agent: Agent): Promise<Host> {
  const host = await connectHost(agent);
  afterThisTest(() => host.close());
  return host;
}

async function receiveAll(host: Host, count: number): Promise<Received[]> {
  const got: Received[] = [];
  while (got.length < count) {
    const result = structured(await host.call("receive", { channel: CHANNEL, wait_ms: 10_000 }));
    if (result.timed_out === true) throw new Error(`only ${got.length} of ${count} messages arrived`);
    got.push(...(result.messages as Received[]));
  }
  return got;
}

/** A key package as the release before sent times made it: packing, but no sent-time capability. */
const keyPackageBeforeSentTimes = (name: string) => keyPackageAdvertising(name, [CHANNEL_NAME_EXTENSION, GENESIS_EXTENSION, PACKED_PAYLOADS_CAPABILITY]);

describe("sent_at and received_at", () => {
  it("sent_at is the sender's clock, each message's own even when sends travel packed; received_at is the receiver's", async () => {
    const relay = await startRelay();
    let senderClock = SENDER_T0;
    const planner = await openAgent(agentConfig(relay, "planner", { clock: () => senderClock++ }));
    const coder = await openAgent(agentConfig(relay, "coder"));
    await planner.createChannel(CHANNEL);
    const { invite } = await planner.invite(CHANNEL, { maxUses: 1, ttlSeconds: 600 });
    expect(await coder.joinWithInvite(invite)).toMatchObject({ status: "joined" });
    const coderHost = await hostOf(coder);

    const before = Date.now();
    const texts = Array.from({ length: 6 }, (_, i) => `m${i}`);
    const firstAt = senderClock;
    // Overlapping sends: the agent packs them into shared MLS messages.
    const sent = await Promise.all(texts.map((t) => planner.send(CHANNEL, t)));
    expect(new Set(sent.map((s) => (s.status === "sent" ? s.seq : -1))).size).toBeLessThan(texts.length);
    const got = await receiveAll(coderHost, texts.length);
    const after = Date.now();
    expect(got.map((m) => [m.message, m.sent_at])).toEqual(texts.map((t, i) => [t, new Date(firstAt + i).toISOString()]));
    for (const m of got) {
      expect(Date.parse(m.received_at)).toBeGreaterThanOrEqual(before);
      expect(Date.parse(m.received_at)).toBeLessThanOrEqual(after);
    }
  });

  it("a message without a sent time reads as sent_at null: stored by an older release, or sent into a channel with a member on one", async () => {
    const relay = await startRelay();
    const coderConfig = agentConfig(relay, "coder");
    // An inbox row as a release before sent times stored it (kind 0: the text alone).
    const store = AgentStore.open(coderConfig.dataDir!);
    store.apply({ channel: CHANNEL, inbox: [{ channel: CHANNEL, seq: 7, epoch: 1n, sender: "planner", senderDid: "did:key:z6Mkold", plaintext: encodeText("from before"), receivedAt: Date.UTC(2025, 5, 1) }] });
    store.close();
    const coder = await openAgent(coderConfig);
    const coderHost = await hostOf(coder);
    expect(await receiveAll(coderHost, 1)).toEqual([
      expect.objectContaining({ message: "from before", sent_at: null, received_at: new Date(Date.UTC(2025, 5, 1)).toISOString() }),
    ]);

    // A member whose leaf does not say it reads sent times: nobody sends them in that channel.
    const planner = await openAgent(agentConfig(relay, "planner"));
    await planner.createChannel(CHANNEL);
    const { invite } = await planner.invite(CHANNEL, { maxUses: 1, ttlSeconds: 600 });
    expect(await coder.joinWithInvite(invite)).toMatchObject({ status: "joined" });
    await planner.send(CHANNEL, "timed");
    expect((await receiveAll(coderHost, 1))[0]?.sent_at).toEqual(expect.any(String));
    await planner.addMember(CHANNEL, { keyPackage: await keyPackageBeforeSentTimes("olde") });
    await planner.send(CHANNEL, "untimed");
    const [untimed] = await receiveAll(coderHost, 1);
    expect(untimed).toMatchObject({ message: "untimed", sent_at: null, received_at: expect.any(String) });
  });
});
