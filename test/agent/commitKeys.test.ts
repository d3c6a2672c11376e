// A removed member (or anyone holding an old invite) knows the channel's group id and can learn
// its epoch from a nack. Before commit keys, a well-formed garbage "commit" of theirs won the
// epoch and stalled the channel's commits for good; now the relay refuses it, and the members
// go on committing and talking.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Agent } from "../../src/agent/agent.js";
import { decodeInvite } from "../../src/agent/invites.js";
import { parseRelayConfig } from "../../src/relay/config.js";
import { Relay } from "../../src/relay/relayServer.js";
import { proveCommit } from "../../src/wire/commitProof.js";
import type { Envelope } from "../../src/wire/envelope.js";
import { tempDir } from "../helpers.js";
import { TestLink } from "../relay/testLink.js";
import { afterThisTest, agentConfig, openAgent, startRelay } from "./fixture.js";

const CHANNEL = "acme/agents/commit-keys";
function open(relay: Relay, name: string): Promise<Agent> {
  return openAgent(agentConfig(relay, name, { log: () => {} }));
}

/** Bytes the relay reads as an MLS PrivateMessage commit of `groupId` at `epoch`; nobody can process them. */
function garbageCommit(groupId: Uint8Array, epoch: bigint): Uint8Array {
  const head = Buffer.alloc(5 + groupId.length + 9);
  head.writeUInt16BE(1, 0); // MLS 1.0
  head.writeUInt16BE(2, 2); // mls_private_message
  head[4] = groupId.length;
  Buffer.from(groupId).copy(head, 5);
  head.writeBigUInt64BE(epoch, 5 + groupId.length);
  head[5 + groupId.length + 8] = 3; // commit
  return Buffer.concat([head, randomBytes(400)]);
}

describe("commit keys at the relay", () => {
  it("a removed member cannot win an epoch with a commit the members cannot process", async () => {
    const relay = await startRelay();
    const alice = await open(relay, "alice");
    const bob = await open(relay, "bob");
    const carol = await open(relay, "carol");
    await alice.createChannel(CHANNEL);
    const { invite } = await alice.invite(CHANNEL, { maxUses: 2, ttlSeconds: 600 });
    await bob.joinWithInvite(invite);
    await carol.joinWithInvite(invite);
    await alice.removeMember(CHANNEL, "carol");
    await carol.close();

    // carol, now outside, with the group id from her old invite and a link of her own:
    const { groupId } = decodeInvite(invite);
    const mallory = await TestLink.connect(relay.url, relay.relayKey.publicKey, "mallory");
    afterThisTest(() => mallory.close());
    const answer = (e: Envelope) => mallory.request(e).catch((error: { answer: Envelope }) => error.answer);
    const probe = await answer({ type: "GroupCommit", id: 0n, commit: garbageCommit(groupId, 0n), welcome: undefined });
    expect(probe).toMatchObject({ type: "GroupNack" }); // the epoch is no secret
    const epoch = (probe as Extract<Envelope, { type: "GroupNack" }>).epoch;
    const forged = garbageCommit(groupId, epoch);
    for (const proof of [undefined, proveCommit(groupId, epoch, forged, randomBytes(32), randomBytes(32))]) {
      expect(await answer({ type: "GroupCommit", id: 0n, commit: forged, welcome: undefined, proof })).toMatchObject({ type: "Error", code: "forbidden" });
    }

    // The members are not stalled: they commit, add someone new and talk.
    expect(await bob.rotateKeys(CHANNEL)).toMatchObject({ epoch: epoch + 1n, members: ["alice", "bob"] });
    const { invite: next } = await bob.invite(CHANNEL, { maxUses: 1, ttlSeconds: 600 });
    const dave = await open(relay, "dave");
    expect(await dave.joinWithInvite(next)).toMatchObject({ status: "joined", members: ["alice", "bob", "dave"] });
    await alice.send(CHANNEL, "still ours");
    expect((await dave.receive({ channel: CHANNEL, waitMs: 10_000 })).messages.map((m) => m.message)).toContain("still ours");
  });

  it("the key survives a relay restart", async () => {
    const dataDir = tempDir("skytale-relay-");
    const start = () => Relay.start(parseRelayConfig(["--port", "0", "--data-dir", dataDir, "--cover", "off"], {}), { log: () => {} });
    let relay = await start();
    const alice = await open(relay, "alice");
    const bob = await open(relay, "bob");
    await alice.createChannel(CHANNEL);
    const { invite } = await alice.invite(CHANNEL, { maxUses: 1, ttlSeconds: 600 });
    await bob.joinWithInvite(invite);
    await relay.close();
    relay = await start();
    afterThisTest(() => relay.close());
    const { groupId } = decodeInvite(invite);
    const mallory = await TestLink.connect(relay.url, relay.relayKey.publicKey, "mallory");
    afterThisTest(() => mallory.close());
    const forged = garbageCommit(groupId, 1n);
    const refused = await mallory.request({ type: "GroupCommit", id: 0n, commit: forged, welcome: undefined }).catch((error: { answer: Envelope }) => error.answer);
    expect(refused).toMatchObject({ type: "Error", code: "forbidden" });
  });
});
