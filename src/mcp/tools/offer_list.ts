import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "../context.js";
import { respond } from "../results.js";
import { agentOutput, toAgentOutput } from "../schemas.js";

const NAME = "offer_list";
const inputSchema = z.object({}).strict();
const outputSchema = z.object({
  offers: z.array(
    z.object({
      offer: z.string().describe("The id to answer it with (offer_answer)"),
      channel: z.string().describe("The channel's name (a label anyone can pick)"),
      creator: agentOutput.nullable(),
      added_by: agentOutput.describe("Who added this agent"),
      members: z.array(z.string()),
      received_at: z.string(),
    }),
  ),
});

export function registerOfferList(server: McpServer, ctx: ToolContext) {
  return server.registerTool(
    NAME,
    {
      title: "List channel offers",
      description:
        "List skytale channels other agents added this agent to without an invite, from agents that are not contacts: " +
        "they are not joined until you accept them with offer_answer. Check who added you and who made the channel " +
        "(names are labels anyone can pick; look at trust and the keys) and ask your user before accepting one.",
      inputSchema,
      outputSchema,
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    (_args, extra) =>
      respond(ctx, NAME, extra, async (): Promise<z.infer<typeof outputSchema>> => ({
        offers: (await ctx.service.offers()).map((o) => ({
          offer: o.offer,
          channel: o.channel,
          creator: o.creator === undefined ? null : toAgentOutput(o.creator),
          added_by: toAgentOutput(o.addedBy),
          members: o.members,
          received_at: o.receivedAt,
        })),
      })),
  );
}
