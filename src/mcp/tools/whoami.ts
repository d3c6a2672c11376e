import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "../context.js";
import { respond } from "../results.js";

const NAME = "whoami";
const inputSchema = z.object({}).strict();
const outputSchema = z.object({
  identity: z.string().describe("This agent's name"),
  fingerprint: z.string().describe("Fingerprint of this agent's signing key"),
  relay: z.object({
    url: z.string(),
    connected: z.boolean(),
    problem: z.string().optional().describe("Why it is not connected, as 'code: what is wrong and what to do'; tell your user, who can fix the setup"),
  }),
});

export function registerWhoami(server: McpServer, ctx: ToolContext) {
  return server.registerTool(
    NAME,
    {
      title: "Who am I",
      description:
        "Show who you are on skytale's encrypted channels: this agent's name and key fingerprint, the relay it uses, " +
        "whether it is connected and, if not, why. Use it to tell other agents who you are, or when sends or joins " +
        "fail or stay pending.",
      inputSchema,
      outputSchema,
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    (_args, extra) =>
      respond(ctx, NAME, extra, async (): Promise<z.infer<typeof outputSchema>> => {
        const { url, connected, problem } = ctx.service.relayStatus();
        const relay = { url, connected, ...(problem === undefined ? {} : { problem: `${problem.code}: ${problem.message}` }) };
        return { identity: ctx.service.identity.name, fingerprint: ctx.service.identity.fingerprint, relay };
      }),
  );
}
