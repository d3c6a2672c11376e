// Issue 13, point 8: what one member's message may carry is bounded where it is decrypted, and one
// receive returns a bounded number of bytes; nothing within the bounds is lost.
import { describe, expect, it } from "vitest";
import { MAX_RECEIVE_BYTES } from "../../src/agent/inboxReader.js";
import { encodeText, MAX_TEXT_BYTES } from "../../src/agent/messageCodec.js";
import { openAgent as openLibraryAgent } from "../../src/index.js";
import { MAX_PAYLOAD_BYTES } from "../../src/mls/receiving.js";
import { RelayClient } from "../../src/transport/relayClient.js";
import { eventually } from "../helpers.js";
import { addWhenPublished, afterThisTest, agentConfig, openAgent, startRelay } from "./fixture.js";

const CHANNEL = "acme/agents/bounds";

describe("message bounds", () => {
  it("a member's oversized message, sent with the library past the tool's bound, is dropped where it is decrypted and reported by sender; later messages still arrive", async () => {
    const relay = await startRelay();
    const lines: string[] = [];
    const alice = await openAgent(agentConfig(relay, "alice", { log: (line) => lines.push(line) }));
    const malloryConfig = agentConfig(relay, "mallory");
    const mallory = await openAgent(malloryConfig);
    await alice.createChannel(CHANNEL);
    await addWhenPublished(alice, CHANNEL, mallory);
    await eventually(async () => (await mallory.channels()).some((c) => c.channel === CHANNEL));
    // The Agent refuses to send it...
    await expect(mallory.send(CHANNEL, "x".repeat(MAX_TEXT_BYTES + 1))).rejects.toMatchObject({ code: "bad_request" });
    await mallory.close();

    // ...so mallory goes below it: its own MLS state, and a relay client of its own.
    const { mls, store } = await openLibraryAgent("mallory", { dataDir: malloryConfig.dataDir! });
    afterThisTest(() => store.close());
    const link = new RelayClient({ url: relay.url, agent: "mallory", identity: { key: mls.identity.signaturePublicKey, prove: (b) => mls.proveLink(b) }, relayKey: relay.relayKey.publicKey, cover: { mode: "off", rate: 0 } });
    afterThisTest(() => link.close());
    await link.connect();
    const huge = encodeText("h".repeat(200 * 1024), Date.now());
    expect(huge.length).toBeGreaterThan(MAX_PAYLOAD_BYTES);
    const hugeSeq = await link.sendMessage(await mls.encrypt(CHANNEL, huge));
    await link.sendMessage(await mls.encrypt(CHANNEL, encodeText("after the big one", Date.now())));

    const got: string[] = [];
    const warnings: { code: string; message: string; seq: number | undefined }[] = [];
    while (!got.includes("after the big one")) {
      const r = await alice.receive({ channel: CHANNEL, waitMs: 5_000 });
      if (r.timedOut && r.warnings === undefined) throw new Error(`got only ${JSON.stringify(got)}`);
      got.push(...r.messages.map((m) => m.message));
      warnings.push(...(r.warnings ?? []));
    }
    expect(got).toEqual(["after the big one"]);
    expect(warnings).toContainEqual({ channel: CHANNEL, code: "message_too_large", message: expect.stringMatching(/^a message of \d+ bytes from 'mallory' \(did:key:z\w+\) was dropped unread/), seq: Number(hugeSeq) });
    expect(lines.some((l) => l.includes(`bytes from 'mallory'`) && !l.includes("hhhh"))).toBe(true);
  }, 60_000);

  it("many messages of the largest size: each receive returns at most MAX_RECEIVE_BYTES, the rest the next, none lost or repeated", async () => {
    const relay = await startRelay();
    const alice = await openAgent(agentConfig(relay, "alice"));
    const bob = await openAgent(agentConfig(relay, "bob"));
    await alice.createChannel(CHANNEL);
    await addWhenPublished(alice, CHANNEL, bob);
    const texts = Array.from({ length: 8 }, (_, i) => String(i).repeat(MAX_TEXT_BYTES));
    for (const t of texts) await alice.send(CHANNEL, t);
    await eventually(async () => (await bob.channels()).find((c) => c.channel === CHANNEL)?.unread === texts.length);

    const calls: string[][] = [];
    for (let got = 0; got < texts.length; ) {
      const { messages } = await bob.receive({ channel: CHANNEL, maxMessages: 100 });
      expect(messages.length).toBeGreaterThan(0);
      expect(messages.reduce((sum, m) => sum + Buffer.byteLength(m.message), 0)).toBeLessThanOrEqual(MAX_RECEIVE_BYTES);
      calls.push(messages.map((m) => m.message));
      got += messages.length;
    }
    expect(calls.map((c) => c.length)).toEqual([3, 3, 2]);
    expect(calls.flat()).toEqual(texts);
    expect((await bob.receive({ channel: CHANNEL })).messages).toEqual([]);
  }, 60_000);
});
