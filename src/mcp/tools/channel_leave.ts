import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "../context.js";
import { requireRelay } from "../relayGate.js";
import { respond } from "../results.js";
import { channelField } from "../schemas.js";

const NAME = "channel_leave";
const inputSchema = z.object({ channel: channelField() }).strict();
const outputSchema = z.object({
  channel: z.string(),
  status: z
    .enum(["left", "leave_requested"])
    .describe("left: a member committed your removal; leave_requested: it will once a member is online"),
});

export function registerChannelLeave(server: McpServer, ctx: ToolContext) {
  return server.registerTool(
    NAME,
    {
      title: "Leave a channel",
      description:
        "Leave a channel: you stop receiving its messages and cannot send to it; rejoining needs a new invite. " +
        "Only leave when your user or your task asks for it.",
      inputSchema,
      outputSchema,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
    },
    ({ channel }, extra) =>
      respond(ctx, NAME, extra, async (): Promise<z.infer<typeof outputSchema>> => {
        requireRelay(ctx);
        const result = await ctx.service.leave(channel);
        ctx.channelsChanged();
        return { channel: result.channel, status: result.status };
      }),
  );
}
