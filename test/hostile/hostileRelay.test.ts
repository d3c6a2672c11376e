// Real agents behind a relay that misbehaves on purpose (hostileRelay.ts, a man in the middle in
// front of a real Relay). For every attack: the clients reject or detect it, never return altered
// or forged text, and work again (both ways, commits, same epoch) once the relay behaves.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Envelope, EnvelopeOf } from "../../src/wire/envelope.js";
import { readMlsRouting } from "../../src/wire/mlsHeader.js";
import { AgentStore } from "../../src/store/agentStore.js";
import { TestLink } from "../relay/testLink.js";
import { testKeyOf } from "../identity.js";
import { addByName, CHANNEL, channelOf, drain, eventually, healthy, mlsBody, receive, receiveN, withBody, world, type TestAgent, type World } from "./fixture.js";
import type { HostileLink } from "./hostileRelay.js";

/** A copy of an MLS body whose last `n` bytes (ciphertext) are replaced: it keeps its header and shape. */
function tampered(body: Uint8Array, n = 16): Uint8Array {
  const out = body.slice();
  out.set(randomBytes(n), out.length - n);
  return out;
}

/** A copy of an MLS body with one bit of its last byte (the AEAD tag) flipped. */
function flipped(body: Uint8Array): Uint8Array {
  const out = body.slice();
  out[out.length - 1]! ^= 1;
  return out;
}

/** Warnings receive() reported to `t` so far (receiving what is waiting first). */
async function warningsOf(t: TestAgent): Promise<string[]> {
  await receive(t);
  return t.warnings;
}

/** Retries while the relay's directory has no key package yet (an agent publishes them once connected). */
async function retryNotFound<T>(step: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      if ((error as { code?: string }).code !== "not_found" || attempt > 100) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The last seq of CHANNEL at the real relay, asked by a throwaway link (what the hostile relay knows). */
async function lastSeq(w: World, groupId: Uint8Array): Promise<bigint> {
  const probe = await TestLink.connect(w.relay.url, w.relay.relayKey.publicKey, "probe");
  const answer = await probe.request({ type: "Subscribe", id: 0n, channel: groupId, fromSeq: 1n << 40n });
  probe.close();
  if (answer.type !== "Ack") throw new Error("no Ack");
  return answer.seq;
}

async function pair() {
  const w = await world();
  const alice = await w.open("alice");
  const bob = await w.open("bob");
  await channelOf(alice, { name: "bob", t: bob });
  // A frame from another member confirms bob's join (until then a join is provisional).
  await alice.agent.send(CHANNEL, "welcome");
  expect(await receiveN(bob, 1)).toEqual(["alice: welcome"]);
  return { w, alice, bob };
}

const toBob = (l: HostileLink, e: Envelope) => l.agent === "bob" && e.type === "Msg";

describe("a hostile relay", () => {
  it("flips bits in a message: refused, fetched again, the original arrives; flipped for good, it is never shown", async () => {
    const { w, alice, bob } = await pair();
    let once = true;
    w.hostile.hooks.down = (e, l) => {
      if (!toBob(l, e) || !once) return undefined;
      once = false;
      return [withBody(e, flipped(mlsBody(e)!))];
    };
    await alice.agent.send(CHANNEL, "one");
    await alice.agent.send(CHANNEL, "two");
    expect(await receiveN(bob, 2)).toEqual(["alice: one", "alice: two"]);
    expect(bob.log.some((l) => l.startsWith("fetching"))).toBe(true);

    // The same flip on every delivery: the message is lost to bob, and he is told.
    w.hostile.hooks.down = (e, l) => (toBob(l, e) ? [withBody(e, flipped(mlsBody(e)!))] : undefined);
    await alice.agent.send(CHANNEL, "three");
    await eventually(() => bob.log.some((l) => /fork_suspected|frame_rejected/.test(l)));
    w.hostile.behave();
    expect(await drain(bob, 50)).toEqual([]);
    await healthy(alice, bob, "after flips");
  });

  it("truncates a commit and cuts a link frame short: the commit is fetched again, the link resumes", async () => {
    const { w, alice, bob } = await pair();
    let once = true;
    w.hostile.hooks.down = (e, l) => {
      if (l.agent !== "bob" || e.type !== "GroupCommit" || !once) return undefined;
      once = false;
      return [withBody(e, e.commit.slice(0, e.commit.length - 40))];
    };
    const { epoch } = await alice.agent.rotateKeys(CHANNEL);
    await eventually(async () => (await bob.agent.members(CHANNEL)).epoch === epoch);
    expect(once).toBe(false);

    let cut = true;
    w.hostile.hooks.raw = (frame, l) => {
      if (l.agent !== "bob" || !cut || frame.length < 512) return frame;
      cut = false;
      return frame.slice(0, 256);
    };
    await alice.agent.send(CHANNEL, "x".repeat(600));
    expect(await receiveN(bob, 1)).toEqual([`alice: ${"x".repeat(600)}`]);
    expect(cut).toBe(false);
    w.hostile.behave();
    await healthy(alice, bob, "after truncation");
  });

  it("flips a bit of a sealed link frame: the link drops, the client reconnects and resumes without loss", async () => {
    const { w, alice, bob } = await pair();
    let once = true;
    w.hostile.hooks.raw = (frame, l) => {
      if (l.agent !== "bob" || !once || frame.length < 512) return frame;
      once = false;
      const out = frame.slice();
      out[100]! ^= 0x80;
      return out;
    };
    await alice.agent.send(CHANNEL, "y".repeat(300));
    expect(await receiveN(bob, 1)).toEqual([`alice: ${"y".repeat(300)}`]);
    expect(once).toBe(false);
    w.hostile.behave();
    await healthy(alice, bob, "after a bad frame");
  });

  it("replays old frames, with their own seq and under a new one: never a duplicate from receive", async () => {
    const { w, alice, bob } = await pair();
    const seen: Envelope[] = [];
    w.hostile.hooks.down = (e, l) => {
      if (toBob(l, e)) seen.push(e);
      return undefined;
    };
    await alice.agent.send(CHANNEL, "first");
    expect(await receiveN(bob, 1)).toEqual(["alice: first"]);
    const old = seen[0] as EnvelopeOf<"Msg">;
    const bobLink = () => w.hostile.linksOf("bob")[0]!;
    // The same frame again on the same link, and after a reconnect.
    bobLink().toClient(old);
    w.hostile.dropLinks();
    await eventually(() => w.hostile.linksOf("bob").length === 1 && w.hostile.linksOf("alice").length === 1);
    await eventually(() => w.hostile.linksOf("bob")[0]!.agent === "bob");
    bobLink().toClient(old);
    // The old ciphertext in place of the next message.
    let once = true;
    w.hostile.hooks.down = (e, l) => {
      if (!toBob(l, e) || !once) return undefined;
      once = false;
      return [{ ...old, id: e.id }];
    };
    await alice.agent.send(CHANNEL, "second");
    expect(await receiveN(bob, 1)).toEqual(["alice: second"]);
    // A ciphertext from an epoch bob can no longer read, in place of a message of the current one.
    w.hostile.hooks.down = undefined;
    for (let i = 0; i < 3; i++) await alice.agent.rotateKeys(CHANNEL);
    once = true;
    w.hostile.hooks.down = (e, l) => {
      if (!toBob(l, e) || !once) return undefined;
      once = false;
      return [{ ...old, id: e.id }];
    };
    await alice.agent.send(CHANNEL, "third");
    expect(await receiveN(bob, 1)).toEqual(["alice: third"]);
    expect(await drain(bob, 200)).toEqual([]);
    w.hostile.behave();
    await healthy(alice, bob, "after replays");
  });

  it("replays a Welcome from the inbox after a reconnect: the member stays in step", async () => {
    const w = await world();
    const alice = await w.open("alice");
    const bob = await w.open("bob");
    const welcomes: Envelope[] = [];
    w.hostile.hooks.down = (e, l) => {
      if (l.agent === "bob" && e.type === "GroupWelcome") welcomes.push(e);
      return undefined;
    };
    await channelOf(alice, { name: "bob", t: bob });
    await alice.agent.send(CHANNEL, "confirms the join");
    expect(await receiveN(bob, 1)).toEqual(["alice: confirms the join"]);
    expect(welcomes).toHaveLength(1);
    w.hostile.dropLinks();
    await eventually(() => w.hostile.linksOf("bob").length === 1 && w.hostile.linksOf("bob")[0]!.agent === "bob");
    // Once this round trip works, the new link follows bob's inbox again.
    await healthy(alice, bob, "reconnected");
    w.hostile.linksOf("bob")[0]!.toClient(welcomes[0]!);
    await eventually(() => bob.log.some((l) => l.startsWith("ignored a Welcome")));
    await healthy(alice, bob, "after the replayed Welcome");
    expect(bob.warnings).toEqual([]);
  });

  it("shows a removed member the Welcome of its re-add before the removal: it joins again once the removal is applied", async () => {
    const { w, alice, bob } = await pair();
    // Inbox and channel are separate orders (after a reconnect either may come first): hold bob's
    // channel frames until the Welcome of his re-add has gone ahead of them.
    let held: Envelope[] | undefined = [];
    w.hostile.hooks.down = (e, l) => {
      if (l.agent !== "bob" || held === undefined) return undefined;
      if (e.type === "GroupWelcome") {
        const out = [e, ...held];
        held = undefined;
        return out;
      }
      if (e.type === "GroupCommit" || e.type === "Msg") {
        held.push(e);
        return [];
      }
      return undefined;
    };
    await alice.agent.removeMember(CHANNEL, "bob");
    await addByName(alice, "bob");
    await eventually(() => held === undefined);
    const epoch = (await alice.agent.members(CHANNEL)).epoch;
    await eventually(async () => (await bob.agent.channels()).some((c) => c.channel === CHANNEL) && (await bob.agent.members(CHANNEL)).epoch === epoch);
    await healthy(alice, bob, "after the re-add");
  });

  it("a Welcome held for the removal it waits for survives a restart", async () => {
    const { w, alice, bob } = await pair();
    // Bob's channel frames (the removal among them) never reach him before he restarts.
    let welcomed = false;
    w.hostile.hooks.down = (e, l) => {
      if (l.agent !== "bob") return undefined;
      if (e.type === "GroupWelcome") welcomed = true;
      return e.type === "GroupCommit" || e.type === "Msg" ? [] : undefined;
    };
    await alice.agent.removeMember(CHANNEL, "bob");
    await addByName(alice, "bob");
    await eventually(() => welcomed);
    await eventually(() => bob.log.some((l) => l.includes("ignored a Welcome: already_exists")));
    await bob.agent.close();
    w.hostile.behave();
    const bob2 = await w.open("bob", bob.dataDir);
    const epoch = (await alice.agent.members(CHANNEL)).epoch;
    await eventually(async () => (await bob2.agent.channels()).some((c) => c.channel === CHANNEL) && (await bob2.agent.members(CHANNEL)).epoch === epoch);
    await healthy(alice, bob2, "after the restart");
  });

  it("reorders messages within an epoch and across a commit: applied in the relay's order all the same", async () => {
    const { w, alice, bob } = await pair();
    let held: Envelope | undefined;
    w.hostile.hooks.down = (e, l) => {
      if (!toBob(l, e)) return undefined;
      if (held === undefined) {
        held = e;
        return [];
      }
      return [e, held];
    };
    await alice.agent.send(CHANNEL, "one");
    await alice.agent.send(CHANNEL, "two");
    expect(await receiveN(bob, 2)).toEqual(["alice: one", "alice: two"]);

    // The commit comes after the first message of the epoch it opens.
    let commit: Envelope | undefined;
    w.hostile.hooks.down = (e, l) => {
      if (l.agent !== "bob") return undefined;
      if (e.type === "GroupCommit" && commit === undefined) {
        commit = e;
        return [];
      }
      return commit !== undefined && e.type === "Msg" ? [e, commit] : undefined;
    };
    const { epoch } = await alice.agent.rotateKeys(CHANNEL);
    await alice.agent.send(CHANNEL, "in the new epoch");
    expect(await receiveN(bob, 1)).toEqual(["alice: in the new epoch"]);
    expect((await bob.agent.members(CHANNEL)).epoch).toBe(epoch);
    w.hostile.behave();
    await healthy(alice, bob, "after reordering");
  });

  it("drops frames: a gap is fetched again; a frame withheld for good is reported missing", async () => {
    const { w, alice, bob } = await pair();
    let once = true;
    w.hostile.hooks.down = (e, l) => {
      if (!toBob(l, e) || !once) return undefined;
      once = false;
      return [];
    };
    await alice.agent.send(CHANNEL, "dropped once");
    await alice.agent.send(CHANNEL, "next");
    expect(await receiveN(bob, 2)).toEqual(["alice: dropped once", "alice: next"]);

    let withheld: bigint | undefined;
    w.hostile.hooks.down = (e, l) => {
      if (!toBob(l, e)) return undefined;
      withheld ??= e.id;
      return e.id === withheld ? [] : undefined;
    };
    await alice.agent.send(CHANNEL, "withheld");
    await alice.agent.send(CHANNEL, "after the gap");
    expect(await receiveN(bob, 1)).toEqual(["alice: after the gap"]);
    expect(await warningsOf(bob)).toContain("frames_missing");
    w.hostile.behave();
    await healthy(alice, bob, "after drops");
  });

  it("forges senders: a message made up by the relay and a join request under another name are refused", async () => {
    const { w, alice, bob } = await pair();
    const carol = await w.open("carol");
    let real: EnvelopeOf<"Msg"> | undefined;
    w.hostile.hooks.down = (e, l) => {
      if (toBob(l, e)) real ??= e as EnvelopeOf<"Msg">;
      return undefined;
    };
    await alice.agent.send(CHANNEL, "genuine");
    expect(await receiveN(bob, 1)).toEqual(["alice: genuine"]);
    // A "message from alice" at the next seq: her header and sender data, the relay's own content.
    w.hostile.linksOf("bob")[0]!.toClient({ ...real!, id: real!.id + 1n, body: tampered(real!.body, 64) });
    await eventually(() => bob.log.some((l) => l.startsWith("fetching")));
    expect(await drain(bob, 100)).toEqual([]);

    // carol's join request, delivered to the members as if mallory had sent it.
    w.hostile.hooks.down = (e, l) => (e.type === "JoinRequest" && l.agent !== "carol" ? [{ ...e, from: testKeyOf("mallory") }] : undefined);
    const { invite } = await alice.agent.invite(CHANNEL, { maxUses: 1, ttlSeconds: 600 });
    expect(await carol.agent.joinWithInvite(invite, 1000)).toMatchObject({ status: "pending" });
    expect(alice.log.some((l) => l.includes("is not its sender's"))).toBe(true);
    w.hostile.behave();
    // The forged request used nothing up: the invite's one use still admits someone. (carol's own
    // request was suppressed for good; asking again with the same invite waits on that one.)
    const dave = await w.open("dave");
    expect(await dave.agent.joinWithInvite(invite, 10_000)).toMatchObject({ status: "joined" });
    await healthy(alice, bob, "after forgeries");
  });

  it("injects a commit no member made: refused without wedging; the honest relay refuses it; a relay claiming it won is reported as a fork", async () => {
    const { w, alice, bob } = await pair();
    let real: EnvelopeOf<"Msg"> | undefined;
    w.hostile.hooks.down = (e, l) => {
      if (toBob(l, e)) real ??= e as EnvelopeOf<"Msg">;
      return undefined;
    };
    await alice.agent.send(CHANNEL, "before");
    expect(await receiveN(bob, 1)).toEqual(["alice: before"]);
    // Well-formed, right group and epoch, content type commit; nobody's keys made it.
    const forged = (epoch: bigint) => {
      const body = tampered(real!.body, 64);
      const at = 5 + readMlsRouting(body).groupId.length;
      new DataView(body.buffer).setBigUint64(at, epoch);
      body[at + 8] = 3;
      return body;
    };
    const epoch = (await alice.agent.members(CHANNEL)).epoch;
    for (const who of ["alice", "bob"]) {
      w.hostile.linksOf(who)[0]!.toClient({ type: "GroupCommit", id: real!.id + 1n, commit: forged(epoch), welcome: undefined });
    }
    await eventually(() => bob.log.some((l) => l.startsWith("fetching")) && alice.log.some((l) => l.startsWith("fetching")));
    const rotated = await alice.agent.rotateKeys(CHANNEL);
    await eventually(async () => (await bob.agent.members(CHANNEL)).epoch === rotated.epoch);
    await healthy(alice, bob, "after an injected commit");

    // A non-member who knows the group id posts one to the honest relay: refused (no commit key).
    const mallory = await TestLink.connect(w.relay.url, w.relay.relayKey.publicKey, "mallory");
    const answer = await mallory.request({ type: "GroupCommit", id: 0n, commit: forged((await alice.agent.members(CHANNEL)).epoch), welcome: undefined });
    mallory.close();
    expect(answer).toMatchObject({ type: "Error", code: "forbidden" });

    // The hostile relay claims such a commit won: it shows it to everyone at the next seq (again
    // on every re-fetch), shifts the real frames after it and nacks alice's commit with it.
    const at = (await lastSeq(w, readMlsRouting(real!.body).groupId)) + 1n;
    const fake: Envelope = { type: "GroupCommit", id: at, commit: forged((await alice.agent.members(CHANNEL)).epoch), welcome: undefined };
    const subscribes = new Map<string, bigint>();
    const shifted = (e: Envelope): Envelope => ("id" in e && mlsBody(e) !== undefined && e.id >= at ? { ...e, id: e.id + 1n } : e);
    w.hostile.hooks.up = (e, l) => {
      if (e.type === "Subscribe") {
        subscribes.set(`${l.agent}/${e.id}`, e.fromSeq);
        return [{ ...e, fromSeq: e.fromSeq > at ? e.fromSeq - 1n : e.fromSeq }];
      }
      if (e.type === "GroupCommit" && l.agent === "alice") {
        const { groupId, epoch } = readMlsRouting(e.commit);
        l.toClient({ type: "GroupNack", id: e.id, channel: groupId, epoch: epoch + 1n, winningSeq: at });
        return [];
      }
      return undefined;
    };
    w.hostile.hooks.down = (e, l) => {
      const from = e.type === "Ack" ? subscribes.get(`${l.agent}/${e.id}`) : undefined;
      return from !== undefined && from <= at ? [e, fake] : [shifted(e)];
    };
    for (const who of ["alice", "bob"]) w.hostile.linksOf(who)[0]!.toClient(fake);
    await expect(alice.agent.rotateKeys(CHANNEL)).rejects.toMatchObject({ code: "fork_detected" });
    await eventually(async () => (await warningsOf(bob)).includes("fork_suspected"));
    // Messages still flow; only membership changes are blocked (docs/architecture.md, Known limits).
    await alice.agent.send(CHANNEL, "still here");
    expect(await receiveN(bob, 1)).toEqual(["alice: still here"]);
    expect(await drain(bob, 50)).toEqual([]);
  });

  it("delivers the Welcome of a commit that lost: the joiner leaves the half-joined group and ends on the real one", async () => {
    const { w, alice, bob } = await pair();
    const carol = await w.open("carol");
    let held: { e: EnvelopeOf<"GroupCommit">; link: HostileLink } | undefined;
    let offset = 0n;
    w.hostile.hooks.up = (e, l) => {
      if (l.agent === "alice" && e.type === "GroupCommit" && e.welcome !== undefined && held === undefined) {
        held = { e, link: l };
        return [];
      }
      // carol's inbox seqs are shifted by the Welcome the relay slipped in.
      if (l.agent === "carol" && e.type === "InboxAck") return [{ ...e, upToSeq: e.upToSeq > offset ? e.upToSeq - offset : 0n }];
      if (l.agent === "carol" && e.type === "InboxSubscribe") return [{ ...e, fromSeq: e.fromSeq > offset ? e.fromSeq - offset : 1n }];
      return undefined;
    };
    w.hostile.hooks.down = (e, l) => {
      if (l.agent === "alice" && e.type === "GroupNack" && held !== undefined && e.id === held.e.id && offset === 0n) {
        offset = 1n;
        w.hostile.linksOf("carol")[0]!.toClient({ type: "GroupWelcome", id: 1n, channel: e.channel, commitSeq: e.winningSeq, welcome: held.e.welcome!.welcome });
      }
      if (l.agent === "carol" && e.type === "GroupWelcome") return [{ ...e, id: e.id + offset }];
      return undefined;
    };
    const adding = retryNotFound(() => alice.agent.addMember(CHANNEL, { agent: "carol" }));
    await eventually(() => held !== undefined);
    await bob.agent.rotateKeys(CHANNEL); // wins the epoch alice's add was built on
    held!.link.toRelay(held!.e); // now the relay nacks it; the hostile relay releases its Welcome anyway
    await adding;
    const target = await alice.agent.members(CHANNEL);
    await eventually(async () => (await carol.agent.members(CHANNEL).catch(() => undefined))?.epoch === target.epoch);
    expect(await warningsOf(carol)).toContain("half_joined");
    w.hostile.behave();
    await healthy(alice, carol, "after a losing Welcome");
    await healthy(bob, carol, "bob and carol");
  });

  it("a join stays provisional across a restart until another member's frame confirms it; then its key package is gone", async () => {
    const { w, alice } = await pair();
    const first = await w.open("carol");
    await retryNotFound(() => alice.agent.addMember(CHANNEL, { agent: "carol" }));
    await eventually(async () => (await first.agent.channels()).some((c) => c.channel === CHANNEL));
    await first.agent.close();
    const setting = (dir: string) => {
      const store = AgentStore.open(dir);
      try {
        return store.setting(`provisional_join:${CHANNEL}`);
      } finally {
        store.close();
      }
    };
    const ref = setting(first.dataDir);
    expect(ref).toMatch(/^[0-9a-f]+$/);
    const again = await w.open("carol", first.dataDir);
    await alice.agent.send(CHANNEL, "confirms the join");
    expect(await receiveN(again, 1)).toEqual(["alice: confirms the join"]);
    await again.agent.close();
    expect(setting(first.dataDir)).toBe("");
    const store = AgentStore.open(first.dataDir);
    expect(store.loadKeyPackage(new Uint8Array(Buffer.from(ref!, "hex")))).toBeUndefined();
    store.close();
  });

  it("splits the group (bob is shown his own commit as the winner): both sides detect it, and re-adding bob repairs it", async () => {
    const { w, alice, bob } = await pair();
    let aliceCommit: EnvelopeOf<"GroupCommit"> | undefined;
    w.hostile.hooks.down = (e, l) => {
      if (l.agent === "bob" && e.type === "GroupCommit" && aliceCommit === undefined) {
        aliceCommit = e;
        return [];
      }
      return undefined;
    };
    w.hostile.hooks.up = (e, l) => {
      if (l.agent !== "bob" || e.type !== "GroupCommit" || aliceCommit === undefined) return undefined;
      const seq = aliceCommit.id;
      const epoch = readMlsRouting(e.commit).epoch + 1n;
      l.toClient({ type: "GroupAck", id: e.id, channel: readMlsRouting(e.commit).groupId, epoch, seq });
      l.toClient({ type: "GroupCommit", id: seq, commit: e.commit, welcome: undefined });
      return [];
    };
    const a = await alice.agent.rotateKeys(CHANNEL);
    await eventually(() => aliceCommit !== undefined);
    const b = await bob.agent.rotateKeys(CHANNEL);
    expect(b.epoch).toBe(a.epoch); // same epoch, different branches
    w.hostile.behave();

    await alice.agent.send(CHANNEL, "from branch a");
    await bob.agent.send(CHANNEL, "from branch b");
    await eventually(async () => (await warningsOf(bob)).includes("fork_suspected"));
    await eventually(async () => (await warningsOf(alice)).includes("fork_suspected"));
    expect(await drain(bob, 50)).toEqual([]);
    expect(await drain(alice, 50)).toEqual([]);

    await alice.agent.removeMember(CHANNEL, "bob");
    await retryNotFound(() => alice.agent.addMember(CHANNEL, { agent: "bob" }));
    const target = await alice.agent.members(CHANNEL);
    await eventually(async () => (await bob.agent.members(CHANNEL).catch(() => undefined))?.epoch === target.epoch);
    await healthy(alice, bob, "after the split");
  });
});
