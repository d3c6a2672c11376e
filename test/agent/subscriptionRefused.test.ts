// Issue 13, point 5: a relay that refuses to deliver a channel (past its channels-per-connection
// cap) must be heard from, not leave a channel that is joined but silent.
import { describe, expect, it } from "vitest";
import { Agent } from "../../src/agent/agent.js";
import { parseRelayConfig } from "../../src/relay/config.js";
import { Relay } from "../../src/relay/relayServer.js";
import { eventually, tempDir } from "../helpers.js";
import { afterThisTest, agentConfig } from "./fixture.js";

describe("a channel the relay will not deliver", () => {
  it("is a channel_not_delivered warning from receive, naming the relay's reason and what to do", async () => {
    const relay = await Relay.start(parseRelayConfig(["--port", "0", "--data-dir", tempDir(), "--cover", "off", "--max-channels", "2"], {}), { log: () => {} });
    afterThisTest(() => relay.close());
    const alice = await Agent.open(agentConfig(relay, "alice"));
    afterThisTest(() => alice.close());
    for (const name of ["acme/cap/one", "acme/cap/two", "acme/cap/three"]) await alice.createChannel(name);
    let warnings: readonly { channel: string; code: string; message: string }[] = [];
    await eventually(async () => {
      warnings = (await alice.receive({ waitMs: 0 })).warnings ?? [];
      return warnings.length > 0;
    });
    expect(warnings).toEqual([
      expect.objectContaining({ channel: "acme/cap/three", code: "channel_not_delivered", message: expect.stringMatching(/limit_exceeded: at most 2 channels per connection.*leave channels/) }),
    ]);
  });
});
