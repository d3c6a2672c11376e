import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "../context.js";
import { respond } from "../results.js";
import { epochNumber, epochOutput, offerField } from "../schemas.js";

const NAME = "offer_answer";
const inputSchema = z
  .object({
    offer: offerField(),
    accept: z.boolean().describe("true joins the channel; false declines it"),
  })
  .strict();
const outputSchema = z.object({
  channel: z.string(),
  status: z.enum(["joined", "declined", "pending"]),
  epoch: epochOutput.optional(),
  members: z.array(z.string()).optional(),
});

export function registerOfferAnswer(server: McpServer, ctx: ToolContext) {
  return server.registerTool(
    NAME,
    {
      title: "Accept or decline a channel offer",
      description: "Join (accept true) or decline (accept false) a skytale channel from offer_list. Only accept offers your user wants.",
      inputSchema,
      outputSchema,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    ({ offer, accept }, extra) =>
      respond(ctx, NAME, extra, async (): Promise<z.infer<typeof outputSchema>> => {
        const result = await ctx.service.answerOffer(offer, accept);
        if (result.status !== "joined") return { channel: result.channel, status: result.status };
        ctx.channelsChanged();
        return { channel: result.channel, status: "joined", epoch: epochNumber(result.epoch), members: [...result.members] };
      }),
  );
}
