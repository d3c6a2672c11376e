// What the tools say while the relay cannot be used (issue 14): whoami says why; calls that need
// the relay fail at once with that reason when retrying cannot help, before anything is built.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ERROR_CODE_META } from "../../src/mcp/results.js";
import { connectHost, structured, textOf, type Host } from "./harness.js";
import { MemoryNetwork, MemoryService } from "./memoryService.js";

const CHANNEL = "acme/research/planning";
const TAKEN = "127.0.0.1:8787, the local relay's port, is held by another program that is not a skytale relay (it answered GET /v1/key with HTTP 404). Stop that program, or give every agent on this machine another port with SKYTALE_LOCAL_RELAY_PORT";

describe("while the relay cannot be used", () => {
  let planner: MemoryService;
  let host: Host;
  beforeEach(async () => {
    const network = new MemoryNetwork();
    new MemoryService("coder", network);
    planner = new MemoryService("planner", network);
    await planner.createChannel(CHANNEL);
    host = await connectHost(planner);
  });
  afterEach(() => host.close());

  it("whoami says why it is not connected, as 'code: sentence'", async () => {
    expect(structured(await host.call("whoami")).relay).toEqual({ url: "ws://127.0.0.1:8787", connected: true });
    planner.relayProblem = { code: "relay_unreachable", message: "cannot fetch the relay key from http://127.0.0.1:8787/v1/key: connect ECONNREFUSED 127.0.0.1:8787", lasting: false };
    expect(structured(await host.call("whoami")).relay).toEqual({
      url: "ws://127.0.0.1:8787",
      connected: false,
      problem: "relay_unreachable: cannot fetch the relay key from http://127.0.0.1:8787/v1/key: connect ECONNREFUSED 127.0.0.1:8787",
    });
  });

  it("a lasting problem refuses every call that needs the relay at once, with its reason, and nothing reaches the service", async () => {
    planner.relayProblem = { code: "relay_unreachable", message: TAKEN, lasting: true };
    planner.nextFailure = new Error("the service was called"); // whatever is called first would throw this
    const calls: [string, Record<string, unknown>][] = [
      ["send", { channel: CHANNEL, message: "hello" }],
      ["channel_invite", { channel: CHANNEL }],
      ["channel_join", { invite: "skinv1.abc" }],
      ["channel_add_member", { channel: CHANNEL, agent: "coder" }],
      ["channel_remove_member", { channel: CHANNEL, member: "coder" }],
      ["channel_rotate_keys", { channel: CHANNEL }],
      ["channel_leave", { channel: CHANNEL }],
    ];
    for (const [tool, args] of calls) {
      const result = await host.call(tool, args);
      expect(result.isError, tool).toBe(true);
      expect(textOf(result), tool).toBe(`relay_unreachable: ${TAKEN}`);
      expect(result._meta?.[ERROR_CODE_META]).toBe("relay_unreachable");
    }
    // Local work goes on.
    planner.nextFailure = undefined;
    expect(structured(await host.call("channel_list")).channels).toHaveLength(1);
    expect(structured(await host.call("channel_create", { channel: "acme/research/other" }))).toMatchObject({ channel: "acme/research/other" });
  });

  it("a passing problem (the relay may come back) lets calls through to wait for it", async () => {
    planner.relayProblem = { code: "relay_unreachable", message: "connect ECONNREFUSED", lasting: false };
    expect(structured(await host.call("send", { channel: CHANNEL, message: "hello" }))).toMatchObject({ channel: CHANNEL });
  });
});
