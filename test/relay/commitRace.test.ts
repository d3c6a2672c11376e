import { it } from "vitest";
import { groupOf } from "../helpers.js";
import { expectOneWinnerAndConvergence } from "./raceCheck.js";
import { eachStore, link, openAtRelay, startRelay } from "./relayFixture.js";

const CHANNEL = "acme/relay/race";

eachStore("commit ordering under contention", (store) => {
  it("20 clients race commits on one epoch: one ack, 19 nacks, and everyone converges", async () => {
    const names = Array.from({ length: 20 }, (_, i) => `agent${i}`);
    const [agents, stream] = await groupOf(CHANNEL, ...names);
    const groupId = (await agents[0]!.mls.channelInfo(CHANNEL)).groupId;
    const relay = await startRelay({}, store);
    const links = await Promise.all(agents.map((a) => link(relay, a.name)));
    await openAtRelay(links[0]!, stream); // seq 1: the commit that added the others
    await Promise.all(links.map((l) => l.request({ type: "Subscribe", id: 0n, channel: groupId, fromSeq: 2n })));

    const commits = await Promise.all(agents.map((a) => a.mls.selfUpdate(CHANNEL)));
    const replies = await Promise.all(
      commits.map((c, i) => links[i]!.request({ type: "GroupCommit", id: 0n, commit: c.commit, welcome: undefined, proof: c.proof })),
    );
    await expectOneWinnerAndConvergence(CHANNEL, agents, links, replies);
  });
});
