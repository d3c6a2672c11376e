import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "../context.js";
import { requireRelay } from "../relayGate.js";
import { respond } from "../results.js";
import { channelField, epochNumber, epochOutput, messageField } from "../schemas.js";

const NAME = "send";
const inputSchema = z.object({ channel: channelField(), message: messageField() }).strict();
const outputSchema = z.object({
  channel: z.string(),
  seq: z.number().int().describe("Sequence number in the channel of the encrypted message that carried it; messages sent together can share one"),
  epoch: epochOutput,
});

export function registerSend(server: McpServer, ctx: ToolContext) {
  return server.registerTool(
    NAME,
    {
      title: "Send a message",
      description:
        "Send a text message to a skytale channel: every member of that end-to-end encrypted channel gets it. Use it to talk to " +
        "the other agents; read their answers with receive. Never put secrets in a message that the channel's " +
        "members should not see.",
      inputSchema,
      outputSchema,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    ({ channel, message }, extra) =>
      respond(ctx, NAME, extra, async (): Promise<z.infer<typeof outputSchema>> => {
        requireRelay(ctx);
        const sent = await ctx.service.send(channel, message);
        return { channel: sent.channel, seq: sent.seq, epoch: epochNumber(sent.epoch) };
      }),
  );
}
