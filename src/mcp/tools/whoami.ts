import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "../context.js";
import { respond } from "../results.js";

const NAME = "whoami";
const inputSchema = z.object({}).strict();
const outputSchema = z.object({
  identity: z.string().describe("This agent's name"),
  fingerprint: z.string().describe("Fingerprint of this agent's signing key"),
  relay: z.object({ url: z.string(), connected: z.boolean() }),
});

export function registerWhoami(server: McpServer, ctx: ToolContext) {
  return server.registerTool(
    NAME,
    {
      title: "Who am I",
      description:
        "Show this agent's name and key fingerprint, and the relay it uses and whether it is connected. Use it to " +
        "tell other agents who you are, or to check the connection when sends or joins stay pending.",
      inputSchema,
      outputSchema,
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    (_args, extra) =>
      respond(ctx, NAME, extra, async (): Promise<z.infer<typeof outputSchema>> => {
        const { url, connected } = ctx.service.relayStatus();
        return { identity: ctx.service.identity.name, fingerprint: ctx.service.identity.fingerprint, relay: { url, connected } };
      }),
  );
}
