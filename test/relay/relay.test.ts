import { randomBytes } from "node:crypto";
import { expect, it } from "vitest";
import { mintToken } from "../../src/relay/token.js";
import { readMlsRouting } from "../../src/wire/mlsHeader.js";
import { groupOf, openAgent, TEST_SECRET, text } from "../helpers.js";
import { testChannel, testIdentity, testKeyOf } from "../identity.js";
import { eachStore, link, openAtRelay, startRelay } from "./relayFixture.js";

const CHANNEL = "acme/relay/test";

/** alice and bob in a channel alice made; the relay holds none of it until openAtRelay. */
async function mlsPair() {
  const [[alice, bob], stream] = await groupOf(CHANNEL, "alice", "bob");
  const groupId = (await alice!.mls.channelInfo(CHANNEL)).groupId;
  return { alice: alice!, bob: bob!, groupId, stream };
}

eachStore("relay: authentication", (store) => {
  it("an open loopback relay accepts any agent", async () => {
    const relay = await startRelay({}, store);
    const l = await link(relay, "alice");
    expect(await l.request({ type: "Ping", id: 0n })).toMatchObject({ type: "Pong" });
  });

  it("with a secret: a valid token passes; none, a forged one, an expired one, another agent's or another key's do not", async () => {
    const secret = TEST_SECRET;
    const relay = await startRelay({ authSecret: secret }, store);
    const key = testKeyOf("alice");
    await link(relay, "alice", { token: mintToken(secret, "alice", key, 60) });
    const cases = [
      ["", /malformed/],
      [mintToken("other-secret", "alice", key, 60), /signature/],
      [mintToken(secret, "alice", key, 60, Math.floor(Date.now() / 1000) - 3600), /expired/],
      [mintToken(secret, "mallory", key, 60), /another agent/],
      [mintToken(secret, "alice", testKeyOf("mallory"), 60), /another identity key/],
    ] as const;
    for (const [token, why] of cases) {
      const error = await link(relay, "alice", { token }).catch((e: { answer: unknown }) => e.answer);
      expect(error).toMatchObject({ type: "Error", code: "auth_failed", message: expect.stringMatching(why) });
    }
    expect(relay.metrics.authFailures).toBe(5);
  });

  it("a link proves the key it names: a signature for another link, or by another key, is refused", async () => {
    const relay = await startRelay({}, store);
    const alice = testIdentity("alice");
    const first = await link(relay, "alice");
    // The signature of the first link's binding means nothing on a second link.
    const replayed = await link(relay, "alice", { identity: { key: alice.key, prove: async () => alice.prove(first.binding) } }).catch((e: { answer: unknown }) => e.answer);
    expect(replayed).toMatchObject({ type: "Error", code: "auth_failed", message: expect.stringMatching(/not signed with the identity key/) });
    // Mallory's signature with alice's key named.
    const mallory = testIdentity("mallory");
    const forged = await link(relay, "alice", { identity: { key: alice.key, prove: (b) => mallory.prove(b) } }).catch((e: { answer: unknown }) => e.answer);
    expect(forged).toMatchObject({ type: "Error", code: "auth_failed" });
  });

  it("nothing but Auth is accepted before authentication", async () => {
    const relay = await startRelay({}, store);
    const l = await link(relay, "alice", { auth: false });
    expect(await l.request({ type: "Ping", id: 0n })).toMatchObject({ type: "Error", code: "not_authenticated" });
    expect((await l.waitClosed()).code).toBe(1008);
  });
});

eachStore("relay: ordering and archive", (store) => {
  it("numbers frames densely per channel, echoes them to the sender, drops duplicates", async () => {
    const { alice, groupId, stream } = await mlsPair();
    const relay = await startRelay({}, store);
    const [a, b] = [await link(relay, "alice"), await link(relay, "bob")];
    await openAtRelay(a, stream); // seq 1: the commit that added bob
    for (const l of [a, b]) expect(await l.request({ type: "Subscribe", id: 0n, channel: groupId, fromSeq: 2n })).toMatchObject({ type: "Ack", seq: 1n });
    const m1 = await alice.mls.encrypt(CHANNEL, text("one"));
    const m2 = await alice.mls.encrypt(CHANNEL, text("two"));
    expect(await a.request({ type: "Msg", id: 0n, body: m1 })).toMatchObject({ type: "Ack", seq: 2n });
    expect(await a.request({ type: "Msg", id: 0n, body: m2 })).toMatchObject({ type: "Ack", seq: 3n });
    expect(await a.request({ type: "Msg", id: 0n, body: m1 })).toMatchObject({ type: "Ack", seq: 2n }); // a retry
    for (const l of [a, b]) {
      await l.waitFor((p) => p.length >= 2);
      expect(l.pushed.map((e) => [e.type, e.id])).toEqual([["Msg", 2n], ["Msg", 3n]]);
    }
    const late = await link(relay, "carol");
    await late.request({ type: "Subscribe", id: 0n, channel: groupId, fromSeq: 3n });
    await late.waitFor((p) => p.length >= 1);
    expect(late.pushed).toMatchObject([{ type: "Msg", id: 3n }]);
  });

  it("one commit wins per epoch; the loser's Welcome is never delivered", async () => {
    const { alice, bob, groupId, stream } = await mlsPair();
    const [carol, dave] = [await openAgent("carol"), await openAgent("dave")];
    const relay = await startRelay({}, store);
    const [a, b, c, d] = [await link(relay, "alice"), await link(relay, "bob"), await link(relay, "carol"), await link(relay, "dave")];
    await openAtRelay(a, stream);
    for (const l of [c, d]) await l.request({ type: "InboxSubscribe", id: 0n, fromSeq: 1n });
    const fromAlice = await alice.mls.addMembers(CHANNEL, [await carol.mls.createKeyPackage()]);
    const fromBob = await bob.mls.addMembers(CHANNEL, [await dave.mls.createKeyPackage()]);
    const [ra, rb] = await Promise.all([
      a.request({ type: "GroupCommit", id: 0n, commit: fromAlice.commit, welcome: { recipients: [testKeyOf("carol")], welcome: fromAlice.welcome! }, proof: fromAlice.proof }),
      b.request({ type: "GroupCommit", id: 0n, commit: fromBob.commit, welcome: { recipients: [testKeyOf("dave")], welcome: fromBob.welcome! }, proof: fromBob.proof }),
    ]);
    const [winner, loser] = ra.type === "GroupAck" ? [ra, rb] : [rb, ra];
    expect(winner).toMatchObject({ type: "GroupAck", epoch: 2n, seq: 2n });
    expect(loser).toMatchObject({ type: "GroupNack", epoch: 2n, winningSeq: 2n });
    const [welcomed, left] = ra.type === "GroupAck" ? [c, d] : [d, c];
    await welcomed.waitFor((p) => p.length === 1);
    expect(welcomed.pushed[0]).toMatchObject({ type: "GroupWelcome", id: 1n, channel: groupId, commitSeq: 2n });
    await new Promise((r) => setTimeout(r, 100));
    expect(left.pushed).toEqual([]);
    expect(relay.metrics.nacks).toBe(1);
  });

  it("proposals must match the current epoch", async () => {
    const { alice, bob, groupId, stream } = await mlsPair();
    const relay = await startRelay({}, store);
    const a = await link(relay, "alice");
    await openAtRelay(a, stream);
    const update = await alice.mls.selfUpdate(CHANNEL);
    expect(await a.request({ type: "GroupCommit", id: 0n, commit: update.commit, welcome: undefined, proof: update.proof })).toMatchObject({ type: "GroupAck", epoch: 2n });
    const stale = await bob.mls.proposeLeave(CHANNEL); // bob has not seen the commit: epoch 1
    expect(readMlsRouting(stale).epoch).toBe(1n);
    expect(await a.request({ type: "GroupProposal", id: 0n, body: stale })).toMatchObject({ type: "GroupNack", channel: groupId, epoch: 2n, winningSeq: 2n });
  });

  it("refuses MLS bodies of the wrong kind", async () => {
    const { alice } = await mlsPair();
    const relay = await startRelay({}, store);
    const a = await link(relay, "alice");
    const m = await alice.mls.encrypt(CHANNEL, text("x"));
    expect(await a.request({ type: "GroupCommit", id: 0n, commit: m, welcome: undefined })).toMatchObject({ type: "Error", code: "bad_request" });
    expect(await a.request({ type: "Msg", id: 0n, body: randomBytes(50) })).toMatchObject({ type: "Error", code: "bad_request" });
  });
});

eachStore("relay: directory, inboxes, relay-through", (store) => {
  it("key packages are single use, with one last-resort package kept", async () => {
    const relay = await startRelay({}, store);
    const [a, b] = [await link(relay, "alice"), await link(relay, "bob")];
    for (const [kp, lastResort] of [[[1], false], [[2], false], [[9], true]] as const) {
      expect(await a.request({ type: "KeyPackagePublish", id: 0n, lastResort, keyPackage: new Uint8Array(kp) })).toMatchObject({ type: "Ack" });
    }
    const fetched = [];
    for (let i = 0; i < 4; i++) fetched.push(await b.request({ type: "KeyPackageFetch", id: 0n, key: testKeyOf("alice") }));
    expect(fetched.map((r) => r.type === "KeyPackageReply" && [...(r.keyPackage ?? [])])).toEqual([[1], [2], [9], [9]]);
    expect(await b.request({ type: "KeyPackageFetch", id: 0n, key: testKeyOf("nobody") })).toMatchObject({ keyPackage: undefined });
  });

  it("relay-through frames reach an offline agent's inbox and a channel's archive, with the sender filled in", async () => {
    const relay = await startRelay({}, store);
    const a = await link(relay, "alice");
    const { channel, opening } = testChannel(testIdentity("alice"));
    await a.request({ type: "ChannelOpen", id: 0n, ...opening });
    const none = new Uint8Array(0);
    expect(await a.request({ type: "JoinRequest", id: 0n, target: { kind: "channel", channel }, from: none, payload: text("join?") })).toMatchObject({ seq: 1n });
    expect(await a.request({ type: "JoinReply", id: 0n, target: { kind: "agent", key: testKeyOf("bob") }, from: none, payload: text("ok") })).toMatchObject({ seq: 1n });
    const b = await link(relay, "bob");
    await b.request({ type: "InboxSubscribe", id: 0n, fromSeq: 1n });
    await b.request({ type: "Subscribe", id: 0n, channel, fromSeq: 1n });
    await b.waitFor((p) => p.length === 2);
    // The inbox and the channel are two streams: each is in order, not one against the other.
    expect(b.pushed.find((e) => e.type === "JoinReply")).toMatchObject({ id: 1n, from: testKeyOf("alice"), target: { kind: "agent", key: testKeyOf("bob") } });
    expect(b.pushed.find((e) => e.type === "JoinRequest")).toMatchObject({ id: 1n, from: testKeyOf("alice"), target: { kind: "channel" } });
    await b.request({ type: "InboxAck", id: 0n, upToSeq: 1n });
    const again = await link(relay, "bob");
    await again.request({ type: "InboxSubscribe", id: 0n, fromSeq: 1n });
    await new Promise((r) => setTimeout(r, 50));
    expect(again.pushed).toEqual([]);
  });
});

eachStore("relay: limits and bad input", (store) => {
  it("answers each limit with a clear error", async () => {
    const relay = await startRelay({ limits: { ...(await import("../../src/relay/config.js")).DEFAULT_LIMITS, maxChannelsPerConnection: 2, maxInboxItems: 1 } }, store);
    const a = await link(relay, "alice");
    for (const n of [1, 2]) await a.request({ type: "Subscribe", id: 0n, channel: new Uint8Array([n]), fromSeq: 0n });
    expect(await a.request({ type: "Subscribe", id: 0n, channel: new Uint8Array([3]), fromSeq: 0n })).toMatchObject({ type: "Error", code: "limit_exceeded" });
    const toBob = { type: "JoinReply" as const, id: 0n, target: { kind: "agent" as const, key: testKeyOf("bob") }, from: new Uint8Array(0), payload: text("1") };
    await a.request(toBob);
    expect(await a.request({ ...toBob, payload: text("2") })).toMatchObject({ type: "Error", code: "limit_exceeded" });
  });

  it("rate limits answer rate_limited, then close an abusive connection", async () => {
    const relay = await startRelay({ limits: { ...(await import("../../src/relay/config.js")).DEFAULT_LIMITS, framesPerSecond: 5 } }, store);
    const a = await link(relay, "alice");
    const replies = await Promise.all(Array.from({ length: 20 }, () => a.request({ type: "Ping", id: 0n })));
    expect(replies.some((r) => r.type === "Error" && r.code === "rate_limited")).toBe(true);
    for (let i = 0; i < 200 && a.closed === undefined; i++) a.send({ type: "Ping", id: 999n });
    expect((await a.waitClosed()).code).toBe(1008);
  });

  it("garbage frames close only the sender's connection", async () => {
    const { alice, groupId, stream } = await mlsPair();
    const relay = await startRelay({}, store);
    await openAtRelay(await link(relay, "alice"), stream);
    const good = await link(relay, "bob");
    await good.request({ type: "Subscribe", id: 0n, channel: groupId, fromSeq: 2n });
    for (let i = 0; i < 50; i++) {
      const bad = await link(relay, `mallory${i}`);
      bad.sendRaw(randomBytes([256, 512, 100, 4096][i % 4]!));
      await bad.waitClosed();
    }
    expect(relay.metrics.protocolErrors).toBe(50);
    const m = await alice.mls.encrypt(CHANNEL, text("still working"));
    expect(await good.request({ type: "Msg", id: 0n, body: m })).toMatchObject({ type: "Ack", seq: 2n });
    await good.waitFor((p) => p.length === 1);
  });

  it("a 100 KB message crosses fragmented and arrives intact", async () => {
    const { alice, groupId, stream } = await mlsPair();
    const relay = await startRelay({}, store);
    const [a, b] = [await link(relay, "alice"), await link(relay, "bob")];
    await openAtRelay(a, stream);
    await b.request({ type: "Subscribe", id: 0n, channel: groupId, fromSeq: 2n });
    const big = await alice.mls.encrypt(CHANNEL, randomBytes(100_000));
    expect(await a.request({ type: "Msg", id: 0n, body: big })).toMatchObject({ type: "Ack" });
    await b.waitFor((p) => p.length === 1);
    expect(b.pushed[0]).toEqual({ type: "Msg", id: 2n, body: big });
    expect(b.frameSizes.filter((s) => s === 32768).length).toBeGreaterThanOrEqual(3);
  });
});

eachStore("relay: HTTP", (store) => {
  it("serves /healthz and its key on the link's port, and /metrics only on the operator's", async () => {
    const relay = await startRelay({ metrics: { host: "127.0.0.1", port: 0, secret: undefined } }, store);
    await link(relay, "alice");
    const base = relay.url.replace("ws:", "http:");
    expect(await (await fetch(`${base}/healthz`)).text()).toMatch(store === "sqlite" ? /^ok\nstorage: sqlite\n$/ : /^ok\nstorage: nats connected \(nats-server 2\.1\d/);
    expect((await (await fetch(`${base}/v1/key`)).text()).trim()).toBe(relay.publicKeyBase64);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    const metrics = await (await fetch(`http://127.0.0.1:${relay.metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^skytale_relay_connections 1$/m);
    expect(metrics).toMatch(/skytale_relay_frames_in_total\{type="Auth"\} 1/);
  });
});
