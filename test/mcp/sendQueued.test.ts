// `send` while the relay is down: the message is stored and queued, which is a success (status
// "queued"), not an error a model would answer by sending it again. It is delivered once the
// relay is back, exactly once.
import { describe, expect, it } from "vitest";
import { parseRelayConfig } from "../../src/relay/config.js";
import { Relay } from "../../src/relay/relayServer.js";
import { afterThisTest, agentConfig, openAgent, startRelay } from "../agent/fixture.js";
import { tempDir } from "../helpers.js";
import { connectHost, structured } from "./harness.js";

const CHANNEL = "acme/agents/queued";

describe("send while the relay is down", () => {
  it("answers status 'queued' (not an error), and the message arrives once the relay is back", async () => {
    const relayDir = tempDir("skytale-relay-");
    const relay = await startRelay(relayDir);
    const port = new URL(relay.url).port;
    const planner = await openAgent(agentConfig(relay, "planner", { sendTimeoutMs: 500 }));
    const coder = await openAgent(agentConfig(relay, "coder"));
    await planner.createChannel(CHANNEL);
    const { invite } = await planner.invite(CHANNEL, { maxUses: 1, ttlSeconds: 600 });
    expect(await coder.joinWithInvite(invite)).toMatchObject({ status: "joined" });
    const host = await connectHost(planner);
    afterThisTest(() => host.close());

    await relay.close();
    const result = await host.call("send", { channel: CHANNEL, message: "sent while the relay was down" });
    expect(result.isError).toBeFalsy();
    const queued = structured(result);
    expect(queued).toMatchObject({ channel: CHANNEL, status: "queued", note: expect.stringMatching(/stored and queued.*do not send it again/i) });
    expect(queued.seq).toBeUndefined();

    const back = await Relay.start(parseRelayConfig(["--port", port, "--data-dir", relayDir, "--cover", "off"], {}), { log: () => {} });
    afterThisTest(() => back.close());
    const got = await coder.receive({ channel: CHANNEL, waitMs: 15_000 });
    expect(got.messages.map((m) => m.message)).toEqual(["sent while the relay was down"]);
    expect((await coder.receive({ channel: CHANNEL, waitMs: 500 })).messages).toEqual([]);

    const sent = structured(await host.call("send", { channel: CHANNEL, message: "and now with the relay up" }));
    expect(sent).toMatchObject({ channel: CHANNEL, status: "sent", seq: expect.any(Number), epoch: expect.any(Number) });
  });
});
