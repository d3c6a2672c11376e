// How failures from the service become tool results: coded errors are the model's to act on,
// everything else is a bug that the model only hears about as "internal error".
import { LoggingMessageNotificationSchema, type LoggingMessageNotification } from "@modelcontextprotocol/sdk/types.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AgentError } from "../../src/agent/types.js";
import { ERROR_CODE_META } from "../../src/mcp/results.js";
import { connectHost, textOf, type Host } from "./harness.js";
import { MemoryNetwork, MemoryService } from "./memoryService.js";

const CHANNEL = "acme/research/planning";

describe("error results", () => {
  let service: MemoryService;
  let host: Host;
  let logged: LoggingMessageNotification["params"][];
  beforeEach(async () => {
    service = new MemoryService("planner", new MemoryNetwork());
    await service.createChannel(CHANNEL);
    host = await connectHost(service);
    logged = [];
    host.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      logged.push(n.params);
    });
  });
  afterEach(() => host.close());

  it("an AgentError becomes 'code: sentence' with the code in _meta", async () => {
    service.nextFailure = new AgentError("relay_unreachable", "the relay at ws://127.0.0.1:8787 cannot be reached; the message stays queued");
    const result = await host.call("send", { channel: CHANNEL, message: "hi" });
    expect(result).toEqual({
      isError: true,
      content: [{ type: "text", text: "relay_unreachable: the relay at ws://127.0.0.1:8787 cannot be reached; the message stays queued" }],
      _meta: { [ERROR_CODE_META]: "relay_unreachable" },
    });
    expect(host.logs).toEqual([]);
  });

  it("a lower layer's coded error (MlsError, TransportError) keeps its code", async () => {
    class TransportError extends Error {
      constructor(
        readonly code: string,
        message: string,
      ) {
        super(message);
      }
    }
    service.nextFailure = new TransportError("timeout", "the relay did not answer in time");
    expect(textOf(await host.call("channel_rotate_keys", { channel: CHANNEL }))).toBe("timeout: the relay did not answer in time");
  });

  it.each([
    ["a plain Error", new Error("cannot read properties of undefined (reading 'epoch')")],
    ["a Node system error", Object.assign(new Error("ENOENT: no such file, open '/home/u/.skytale/planner/key'"), { code: "ENOENT" })],
    ["an AgentError coded internal", new AgentError("internal", "state machine confused")],
    ["a thrown string", "oops"],
  ])("%s is an internal error: details to the log, a generic sentence to the model", async (_label, failure) => {
    service.nextFailure = failure;
    const result = await host.call("send", { channel: CHANNEL, message: "TOP SECRET PLAN" });
    expect(result.isError).toBe(true);
    expect(result._meta?.[ERROR_CODE_META]).toBe("internal");
    const text = textOf(result);
    expect(text).toMatch(/^internal: internal error in send; this is a bug in skytale-mcp/);
    const detail = failure instanceof Error ? failure.message : failure;
    expect(text).not.toContain(detail);
    expect(host.logs.join("\n")).toContain(detail);
    // The log names the tool and the error, never the arguments.
    expect(host.logs.join("\n")).toContain("send failed");
    expect(host.logs.join("\n")).not.toContain("TOP SECRET");
    // The host hears about it through MCP logging too, without the details.
    await expect.poll(() => logged.length).toBe(1);
    expect(logged[0]).toMatchObject({ level: "error", logger: "skytale-mcp" });
    expect(JSON.stringify(logged[0])).not.toContain(detail);
  });

  it("MCP logging honours the level the host sets", async () => {
    await host.client.setLoggingLevel("critical");
    service.nextFailure = new Error("boom");
    expect((await host.call("channel_list")).isError).toBe(true);
    // Give a notification time to arrive if it were (wrongly) sent.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(logged).toEqual([]);
    expect(host.logs.join("\n")).toContain("boom");
  });
});
