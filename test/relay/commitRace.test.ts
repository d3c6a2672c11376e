import { expect, it } from "vitest";
import type { Envelope } from "../../src/wire/envelope.js";
import { groupOf } from "../helpers.js";
import { eachStore, link, startRelay } from "./relayFixture.js";

const CHANNEL = "acme/relay/race";

eachStore("commit ordering under contention", (store) => {
  it("20 clients race commits on one epoch: one ack, 19 nacks, and everyone converges", async () => {
    const names = Array.from({ length: 20 }, (_, i) => `agent${i}`);
    const [agents] = await groupOf(CHANNEL, ...names);
    const groupId = (await agents[0]!.mls.channelInfo(CHANNEL)).groupId;
    const relay = await startRelay({}, store);
    const links = await Promise.all(agents.map((a) => link(relay, a.name)));
    await Promise.all(links.map((l) => l.request({ type: "Subscribe", id: 0n, channel: groupId, fromSeq: 1n })));

    const commits = await Promise.all(agents.map((a) => a.mls.selfUpdate(CHANNEL)));
    const replies = await Promise.all(
      commits.map((c, i) => links[i]!.request({ type: "GroupCommit", id: 0n, commit: c.commit, welcome: undefined })),
    );
    const acked = replies.flatMap((r, i) => (r.type === "GroupAck" ? [i] : []));
    expect(acked).toHaveLength(1);
    expect(replies.filter((r) => r.type === "GroupNack" && r.winningSeq === 1n && r.epoch === 2n)).toHaveLength(19);

    const winner = acked[0]!;
    await agents[winner]!.mls.confirmCommit(CHANNEL);
    for (const [i, agent] of agents.entries()) {
      if (i !== winner) await agent.mls.discardCommit(CHANNEL); // the nack
      await links[i]!.waitFor((p) => p.length >= 1);
      const delivered = links[i]!.pushed[0] as Extract<Envelope, { type: "GroupCommit" }>;
      const [outcome] = await agent.mls.receive(CHANNEL, delivered.commit, Number(delivered.id));
      expect(outcome?.kind).toBe(i === winner ? "own" : "commit");
    }
    const infos = await Promise.all(agents.map((a) => a.mls.channelInfo(CHANNEL)));
    expect(new Set(infos.map((i) => i.epoch))).toEqual(new Set([2n]));
    expect(new Set(infos.map((i) => Buffer.from(i.epochAuthenticator).toString("hex"))).size).toBe(1);
  });
});
