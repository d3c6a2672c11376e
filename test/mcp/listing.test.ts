import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { connectHost, type Host } from "./harness.js";
import { MemoryNetwork, MemoryService } from "./memoryService.js";

const TOOLS = [
  "channel_create",
  "channel_invite",
  "channel_join",
  "key_package",
  "channel_add_member",
  "send",
  "receive",
  "channel_list",
  "channel_members",
  "channel_leave",
  "channel_remove_member",
  "channel_rotate_keys",
  "whoami",
  "contact_list",
  "contact_add",
  "contact_remove",
  "offer_list",
  "offer_answer",
];

describe("what the server offers a host", () => {
  let host: Host;
  beforeEach(async () => {
    host = await connectHost(new MemoryService("planner", new MemoryNetwork()));
  });
  afterEach(() => host.close());

  it("names itself and explains the loop in its instructions", () => {
    expect(host.client.getServerVersion()).toEqual({ name: "skytale-mcp", version: "1.2.3" });
    const instructions = host.client.getInstructions() ?? "";
    expect(instructions).toMatch(/channel_create/);
    expect(instructions).toMatch(/channel_join/);
    expect(instructions).toMatch(/send/);
    expect(instructions).toMatch(/receive/);
    expect(instructions).toMatch(/empty result .* normal/);
    expect(instructions).toMatch(/untrusted input/);
    expect(instructions).toMatch(/never as instructions/);
  });

  it("declares logging and subscribable resources", () => {
    const capabilities = host.client.getServerCapabilities();
    expect(capabilities?.logging).toEqual({});
    expect(capabilities?.resources?.subscribe).toBe(true);
    expect(capabilities?.tools).toBeDefined();
  });

  it("lists all 18 tools, each with a title, a description, strict schemas and all four annotations", async () => {
    const { tools } = await host.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([...TOOLS].sort());
    for (const tool of tools) {
      expect(tool.title, tool.name).toBeTruthy();
      expect(tool.description?.length ?? 0, tool.name).toBeGreaterThan(60);
      expect(tool.inputSchema.type, tool.name).toBe("object");
      expect(tool.inputSchema.additionalProperties, tool.name).toBe(false);
      expect(tool.outputSchema?.type, tool.name).toBe("object");
      const annotations = tool.annotations ?? {};
      for (const hint of ["readOnlyHint", "destructiveHint", "idempotentHint", "openWorldHint"] as const) {
        expect(typeof annotations[hint], `${tool.name}.${hint}`).toBe("boolean");
      }
    }
  });

  it("marks read-only and destructive tools as such", async () => {
    const { tools } = await host.client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t.annotations]));
    for (const name of ["channel_list", "channel_members", "whoami"]) expect(byName.get(name)?.readOnlyHint, name).toBe(true);
    for (const name of ["channel_leave", "channel_remove_member"]) expect(byName.get(name)?.destructiveHint, name).toBe(true);
    for (const name of ["send", "receive", "channel_create", "channel_join"]) expect(byName.get(name)?.readOnlyHint, name).toBe(false);
  });

  it("bounds every string and number in the input schemas", async () => {
    const { tools } = await host.client.listTools();
    for (const tool of tools) {
      for (const [field, schema] of Object.entries(tool.inputSchema.properties ?? {})) {
        const s = schema as { type?: string; maxLength?: number; maximum?: number };
        if (s.type === "string") expect(s.maxLength, `${tool.name}.${field}`).toBeGreaterThan(0);
        if (s.type === "integer" || s.type === "number") expect(s.maximum, `${tool.name}.${field}`).toBeDefined();
      }
    }
  });

  it("tells the model in receive's description that messages are untrusted", async () => {
    const { tools } = await host.client.listTools();
    expect(tools.find((t) => t.name === "receive")?.description).toMatch(/untrusted input/);
  });
});

describe("tool names and prompts (issue 14)", () => {
  let host: Host;
  beforeEach(async () => {
    host = await connectHost(new MemoryService("planner", new MemoryNetwork()));
  });
  afterEach(() => host.close());

  it("says 'skytale' in the description of every tool whose name alone could belong to any server", async () => {
    // Hosts that do not prefix tool names with the server's show only `send` or `receive`.
    const { tools } = await host.client.listTools();
    const generic = tools.filter((t) => !t.name.startsWith("channel_"));
    expect(generic.map((t) => t.name).sort()).toEqual(["contact_add", "contact_list", "contact_remove", "key_package", "offer_answer", "offer_list", "receive", "send", "whoami"]);
    for (const tool of generic) expect(tool.description, tool.name).toMatch(/skytale/);
  });

  it("offers a prompt to start a channel and invite someone, and one to join with an invite", async () => {
    const { prompts } = await host.client.listPrompts();
    expect(prompts.map((p) => p.name).sort()).toEqual(["join_channel", "start_channel"]);
    for (const prompt of prompts) expect(prompt.description, prompt.name).toMatch(/skytale/);

    const start = await host.client.getPrompt({ name: "start_channel", arguments: { channel: "acme/research/planning", invitees: "the coder agent" } });
    const startText = start.messages.map((m) => (m.content.type === "text" ? m.content.text : "")).join("\n");
    for (const step of ['channel_create with channel "acme/research/planning"', "channel_invite", "the coder agent", "receive", "untrusted"]) expect(startText).toContain(step);

    const join = await host.client.getPrompt({ name: "join_channel", arguments: { invite: "skinv1.abc" } });
    const joinText = join.messages.map((m) => (m.content.type === "text" ? m.content.text : "")).join("\n");
    for (const step of ['channel_join with invite "skinv1.abc"', "send", "receive", "pending", "untrusted"]) expect(joinText).toContain(step);

    await expect(host.client.getPrompt({ name: "start_channel", arguments: { channel: "Not A Channel" } })).rejects.toThrow(/org\/namespace\/service/);
  });
});
