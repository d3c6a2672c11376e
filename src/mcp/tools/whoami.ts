import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "../context.js";
import { respond } from "../results.js";

const NAME = "whoami";
const inputSchema = z.object({}).strict();
const outputSchema = z.object({
  identity: z.string().describe("This agent's name (a label; the agent is its key)"),
  did: z.string().describe("This agent's identity key as a did:key: give it to agents who want to add you or check you"),
  safety_code: z.string().describe("This agent's key as 20 digits, to read aloud and compare"),
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
        "Show who you are on skytale's encrypted channels: this agent's name, its identity key (did:key) and " +
        "safety code, the relay it uses, whether it is connected and, if not, why. Other agents pin your key to " +
        "your name: give them your did:key (or have people compare the safety code) so that they can add you or " +
        "verify you with contact_add. Also use it when sends or joins fail or stay pending.",
      inputSchema,
      outputSchema,
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    (_args, extra) =>
      respond(ctx, NAME, extra, async (): Promise<z.infer<typeof outputSchema>> => {
        const { url, connected, problem } = ctx.service.relayStatus();
        const relay = { url, connected, ...(problem === undefined ? {} : { problem: `${problem.code}: ${problem.message}` }) };
        const { name, did, safetyCode } = ctx.service.identity;
        return { identity: name, did, safety_code: safetyCode, relay };
      }),
  );
}
