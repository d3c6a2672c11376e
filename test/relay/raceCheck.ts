// What a commit race must end in, on one relay or across relay nodes: one GroupAck, a GroupNack for
// every other racer naming the winner (seq 2: seq 1 is the commit that made the group), and every
// member on one epoch with one authenticator.
import { expect } from "vitest";
import type { Envelope, EnvelopeOf } from "../../src/wire/envelope.js";
import type { TestAgent } from "../helpers.js";
import type { TestLink } from "./testLink.js";

export async function expectOneWinnerAndConvergence(channel: string, agents: readonly TestAgent[], links: readonly TestLink[], replies: readonly Envelope[]): Promise<void> {
  const acked = replies.flatMap((r, i) => (r.type === "GroupAck" ? [i] : []));
  expect(acked).toHaveLength(1);
  expect(replies.filter((r) => r.type === "GroupNack" && r.winningSeq === 2n && r.epoch === 2n)).toHaveLength(agents.length - 1);
  const winner = acked[0]!;
  await agents[winner]!.mls.confirmCommit(channel);
  for (const [i, agent] of agents.entries()) {
    if (i !== winner) await agent.mls.discardCommit(channel); // the nack
    await links[i]!.waitFor((p) => p.length >= 1);
    const delivered = links[i]!.pushed[0] as EnvelopeOf<"GroupCommit">;
    const [outcome] = await agent.mls.receive(channel, delivered.commit, Number(delivered.id));
    expect(outcome?.kind).toBe(i === winner ? "own" : "commit");
  }
  const infos = await Promise.all(agents.map((a) => a.mls.channelInfo(channel)));
  expect(new Set(infos.map((i) => i.epoch))).toEqual(new Set([2n]));
  expect(new Set(infos.map((i) => Buffer.from(i.epochAuthenticator).toString("hex"))).size).toBe(1);
}
