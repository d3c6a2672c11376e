import { afterEach, describe, expect, it } from "vitest";
import { Agent, type AgentConfig } from "../../src/agent/agent.js";
import { parseRelayConfig } from "../../src/relay/config.js";
import { Relay } from "../../src/relay/relayServer.js";
import { tempDir, TEST_SECRET } from "../helpers.js";
import { introduce } from "./fixture.js";

const CHANNEL = "acme/agents/e2e";
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function startRelay(dataDir = tempDir("skytale-relay-"), port = 0): Promise<Relay> {
  const relay = await Relay.start(parseRelayConfig(["--port", String(port), "--data-dir", dataDir, "--cover", "off"], {}), { log: () => {} });
  cleanups.push(() => relay.close());
  return relay;
}

function configFor(relay: Relay, name: string, dataDir = tempDir(`skytale-${name}-`)): AgentConfig {
  return { name, dataDir, relayUrl: relay.url, relayKey: relay.relayKey.publicKey, cover: { mode: "off", rate: 0 }, log: (l) => process.env.AGENT_DEBUG && console.error(name, l) };
}

async function open(config: AgentConfig): Promise<Agent> {
  const agent = await Agent.open(config);
  cleanups.push(() => agent.close());
  return agent;
}

async function eventually(check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("the channel manager, end to end through a real relay", () => {
  it("an invite joins while every member is offline: the request waits and completes when one returns", async () => {
    const relay = await startRelay();
    const aliceConfig = configFor(relay, "alice");
    const alice = await open(aliceConfig);
    await alice.createChannel(CHANNEL);
    const { invite, expiresAt } = await alice.invite(CHANNEL, { maxUses: 1, ttlSeconds: 600 });
    expect(expiresAt.getTime()).toBeGreaterThan(Date.now());
    await alice.close();
    const carol = await open(configFor(relay, "carol"));
    expect(await carol.joinWithInvite(invite, 300)).toMatchObject({ status: "pending", channel: CHANNEL, note: expect.stringMatching(/no member/) });
    const back = await open(aliceConfig);
    await eventually(async () => (await carol.channels()).some((c) => c.channel === CHANNEL));
    expect((await back.members(CHANNEL)).members.map((m) => m.identity)).toEqual(["alice", "carol"]);
    // used up: a second joiner with the same invite is refused, and told so
    const dave = await open(configFor(relay, "dave"));
    await expect(dave.joinWithInvite(invite, 10_000)).rejects.toMatchObject({ code: "invite_used_up" });
  });

  it("create, invite, join, send, receive, remove, leave", async () => {
    const relay = await startRelay();
    const alice = await open(configFor(relay, "alice"));
    const bob = await open(configFor(relay, "bob"));
    const carol = await open(configFor(relay, "carol"));

    expect(await alice.createChannel(CHANNEL)).toEqual({ channel: CHANNEL, epoch: 0n, members: ["alice"] });
    const { invite } = await alice.invite(CHANNEL, { maxUses: 2, ttlSeconds: 3600 });
    expect(await bob.joinWithInvite(invite)).toMatchObject({ status: "joined", channel: CHANNEL, members: ["alice", "bob"] });
    // bob learned the invite after joining, so he could admit carol too; one of them does.
    expect(await carol.joinWithInvite(invite)).toMatchObject({ status: "joined", members: ["alice", "bob", "carol"] });

    expect(await bob.send(CHANNEL, "hello from bob")).toMatchObject({ status: "sent", channel: CHANNEL, seq: expect.any(Number) });
    const got = await carol.receive({ channel: CHANNEL, waitMs: 5000 });
    expect(got.messages.map((m) => [m.sender, m.message])).toEqual([["bob", "hello from bob"]]);
    expect((await carol.receive({ channel: CHANNEL })).messages).toEqual([]); // each message once
    const waiting = alice.receive({ channel: CHANNEL, waitMs: 5000 });
    expect((await waiting).messages.map((m) => m.message)).toEqual(["hello from bob"]);
    const empty = await alice.receive({ channel: CHANNEL, waitMs: 200 });
    expect(empty).toEqual({ messages: [], timedOut: true });

    await alice.removeMember(CHANNEL, "carol");
    await eventually(async () => !(await carol.channels()).some((c) => c.channel === CHANNEL));
    await alice.send(CHANNEL, "carol must not read this");
    await eventually(async () => (await bob.receive({ channel: CHANNEL })).messages.length === 1);
    await expect(carol.receive({ channel: CHANNEL, waitMs: 300 })).rejects.toMatchObject({ code: "not_found" });
    expect((await carol.receive({ waitMs: 300 })).messages).toEqual([]);

    expect(await bob.leave(CHANNEL)).toMatchObject({ channel: CHANNEL });
    await eventually(async () => (await alice.members(CHANNEL)).members.length === 1);
  });

  it("adds an offline agent through the relay's key-package directory", async () => {
    const relay = await startRelay();
    const alice = await open(configFor(relay, "alice"));
    const daveConfig = configFor(relay, "dave");
    const dave = await open(daveConfig);
    await introduce(alice, dave);
    await eventually(() => dave.relayStatus().connected);
    await new Promise((r) => setTimeout(r, 300)); // its key packages reach the directory
    await dave.close();
    await alice.createChannel(CHANNEL);
    let added: Awaited<ReturnType<Agent["addMember"]>> | undefined;
    await eventually(() => alice.addMember(CHANNEL, { agent: "dave" }).then((r) => ((added = r), true), () => false));
    if (added === undefined) throw new Error("not added");
    expect(added.members).toEqual(["alice", "dave"]);
    await alice.send(CHANNEL, "welcome, dave");
    const back = await open(daveConfig);
    const got = await back.receive({ channel: CHANNEL, waitMs: 10_000 }).catch(async () => {
      await eventually(async () => (await back.channels()).length === 1);
      return back.receive({ channel: CHANNEL, waitMs: 10_000 });
    });
    expect(got.messages.map((m) => m.message)).toEqual(["welcome, dave"]);
  });

  it("restarting an agent between sends neither loses nor repeats a message", async () => {
    const relay = await startRelay();
    const alice = await open(configFor(relay, "alice"));
    const bobConfig = configFor(relay, "bob");
    let bob = await open(bobConfig);
    await alice.createChannel(CHANNEL);
    await alice.addMember(CHANNEL, { keyPackage: await bob.keyPackage() }).then(async (r) => bob.joinWithWelcome(CHANNEL, r.welcome));
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      await alice.send(CHANNEL, `m${i}`);
      if (i % 2 === 1) {
        await bob.close();
        bob = await open(bobConfig);
      }
      const got = await bob.receive({ channel: CHANNEL, waitMs: 5000 });
      seen.push(...got.messages.map((m) => m.message));
    }
    await new Promise((r) => setTimeout(r, 300));
    seen.push(...(await bob.receive({ channel: CHANNEL })).messages.map((m) => m.message));
    expect(seen).toEqual(["m0", "m1", "m2", "m3", "m4", "m5"]);
  });

  it("an invite admits at most max_uses agents, however many members learned it", async () => {
    const relay = await startRelay();
    const alice = await open(configFor(relay, "alice"));
    await alice.createChannel(CHANNEL);
    const { invite } = await alice.invite(CHANNEL, { maxUses: 2, ttlSeconds: 600 });
    const [bob, carol, dave] = await Promise.all(["bob", "carol", "dave"].map((n) => open(configFor(relay, n))));
    expect(await bob!.joinWithInvite(invite)).toMatchObject({ status: "joined" });
    expect(await carol!.joinWithInvite(invite)).toMatchObject({ status: "joined" });
    await expect(dave!.joinWithInvite(invite, 10_000)).rejects.toMatchObject({ code: "invite_used_up" });
    expect((await alice.members(CHANNEL)).members.map((m) => m.identity)).toEqual(["alice", "bob", "carol"]);
  });

  it("removing a member revokes the channel's open invites, so it cannot come back with one", async () => {
    const relay = await startRelay();
    const alice = await open(configFor(relay, "alice"));
    const bobConfig = configFor(relay, "bob");
    const bob = await open(bobConfig);
    await alice.createChannel(CHANNEL);
    const { invite } = await alice.invite(CHANNEL, { maxUses: 5, ttlSeconds: 600 });
    expect(await bob.joinWithInvite(invite)).toMatchObject({ status: "joined" });
    await alice.removeMember(CHANNEL, "bob");
    await eventually(async () => !(await bob.channels()).some((c) => c.channel === CHANNEL));
    await expect(bob.joinWithInvite(invite, 10_000)).rejects.toMatchObject({ code: "invite_revoked" });
    expect((await alice.members(CHANNEL)).members.map((m) => m.identity)).toEqual(["alice"]);
  });

  it("with directory adds off, an agent is not pulled into a channel it did not ask for", async () => {
    const relay = await startRelay();
    const dave = await open({ ...configFor(relay, "dave"), directoryAdds: "none" });
    await eventually(() => dave.relayStatus().connected);
    const alice = await open(configFor(relay, "alice"));
    await alice.createChannel(CHANNEL);
    await dave.addContact("alice", { did: alice.identity.did });
    await eventually(() => alice.addMember(CHANNEL, { agent: dave.identity.did }).then(() => true, () => false));
    await new Promise((r) => setTimeout(r, 500));
    expect(await dave.channels()).toEqual([]);
  });

  it("relay failures reach the caller as codes: refused token, unreachable relay, expired invite", async () => {
    const { encodeInvite } = await import("../../src/agent/invites.js");
    const secret = TEST_SECRET;
    const guarded = await Relay.start(parseRelayConfig(["--port", "0", "--data-dir", tempDir(), "--auth-secret", secret, "--cover", "off"], {}), { log: () => {} });
    cleanups.push(() => guarded.close());
    const refused = await open({ ...configFor(guarded, "mallory"), token: "not-a-token", sendTimeoutMs: 2000 });
    await refused.createChannel(CHANNEL);
    await expect(refused.send(CHANNEL, "x")).rejects.toMatchObject({ code: "auth_failed" });

    const nowhere = await open({ name: "loner", dataDir: tempDir(), relayUrl: "ws://127.0.0.1:9", relayKey: new Uint8Array(32).fill(9), cover: { mode: "off", rate: 0 }, sendTimeoutMs: 300, log: () => {} });
    await nowhere.createChannel(CHANNEL); // local work needs no relay
    // Queued is a success: the outbox sends it once the relay is reachable.
    expect(await nowhere.send(CHANNEL, "queued")).toMatchObject({ status: "queued", channel: CHANNEL, reason: expect.stringMatching(/stored and queued/) });

    const relay = await startRelay();
    const bob = await open(configFor(relay, "bob"));
    const expired = encodeInvite({
      channel: CHANNEL, groupId: new Uint8Array(12), relayUrl: relay.url, relayKey: relay.relayKey.publicKey, inviter: { name: "alice", key: new Uint8Array(32) },
      id: new Uint8Array(16), secret: new Uint8Array(32), expiresAt: Math.floor(Date.now() / 1000) - 10,
    });
    await expect(bob.joinWithInvite(expired)).rejects.toMatchObject({ code: "invite_expired" });
    const elsewhere = encodeInvite({
      channel: CHANNEL, groupId: new Uint8Array(12), relayUrl: "ws://127.0.0.1:1", relayKey: relay.relayKey.publicKey, inviter: { name: "alice", key: new Uint8Array(32) },
      id: new Uint8Array(16), secret: new Uint8Array(32), expiresAt: Math.floor(Date.now() / 1000) + 600,
    });
    await expect(bob.joinWithInvite(elsewhere)).rejects.toMatchObject({ code: "invite_invalid" });
  });

  it("a leave waits for a member: leave_requested while nobody is online, left once one returns", async () => {
    const relay = await startRelay();
    const aliceConfig = configFor(relay, "alice");
    const alice = await open(aliceConfig);
    const bob = await open(configFor(relay, "bob"));
    await alice.createChannel(CHANNEL);
    const { invite } = await alice.invite(CHANNEL, { maxUses: 1, ttlSeconds: 600 });
    await bob.joinWithInvite(invite);
    await alice.close();
    expect(await bob.leave(CHANNEL)).toEqual({ channel: CHANNEL, status: "leave_requested" });
    await expect(bob.send(CHANNEL, "still here?")).rejects.toMatchObject({ code: "not_member" });
    const back = await open(aliceConfig);
    await eventually(async () => !(await bob.channels()).some((c) => c.channel === CHANNEL));
    expect((await back.members(CHANNEL)).members.map((m) => m.identity)).toEqual(["alice"]);
  });

  it("clear errors for unknown channels, bad names and bad invites", async () => {
    const relay = await startRelay();
    const alice = await open(configFor(relay, "alice"));
    await expect(alice.send("nope/nope/nope", "x")).rejects.toMatchObject({ code: "not_found" });
    await expect(alice.createChannel("Not A Name")).rejects.toMatchObject({ code: "bad_request" });
    await expect(alice.joinWithInvite("hello")).rejects.toMatchObject({ code: "bad_request" });
    await expect(alice.addMember("nope/nope/nope", { agent: "ghost" })).rejects.toMatchObject({ code: "not_found" });
  });
});

describe("the local relay (no SKYTALE_RELAY)", () => {
  it("the first agent hosts it; when that agent exits, another takes over the same data without losing messages", async () => {
    const { LocalRelayHost } = await import("../../src/agent/localRelay.js");
    const { createServer } = await import("node:net");
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const p = (probe.address() as { port: number }).port;
        probe.close(() => resolve(p));
      });
    });
    const relayDir = tempDir("skytale-local-relay-");
    const local = (name: string): AgentConfig => ({
      name,
      dataDir: tempDir(`skytale-${name}-`),
      localRelay: new LocalRelayHost(relayDir, port, () => {}),
      cover: { mode: "off", rate: 0 },
      log: () => {},
    });
    const alice = await Agent.open(local("alice"));
    const bobConfig = local("bob");
    const bob = await open(bobConfig);
    expect(alice.relayStatus().url).toBe(`ws://127.0.0.1:${port}`);
    await eventually(() => alice.relayStatus().connected && bob.relayStatus().connected);
    await alice.createChannel(CHANNEL);
    await introduce(alice, bob);
    await eventually(() => alice.addMember(CHANNEL, { agent: "bob" }).then(() => true, () => false)); // once bob's key packages are in
    await alice.send(CHANNEL, "before the host left");
    await alice.close(); // alice hosted the relay: it goes with her
    await eventually(() => bobConfig.localRelay!.hosting, 15_000);
    await eventually(() => bob.relayStatus().connected, 15_000);
    const got = await bob.receive({ channel: CHANNEL, waitMs: 10_000 });
    expect(got.messages.map((m) => m.message)).toEqual(["before the host left"]);
  });
});
