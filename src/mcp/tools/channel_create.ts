import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "../context.js";
import { respond } from "../results.js";
import { channelField, channelStateOutput, toChannelState } from "../schemas.js";

const NAME = "channel_create";
const inputSchema = z.object({ channel: channelField() }).strict();
const outputSchema = z.object(channelStateOutput);

export function registerChannelCreate(server: McpServer, ctx: ToolContext) {
  return server.registerTool(
    NAME,
    {
      title: "Create a channel",
      description:
        "Create a new end-to-end encrypted (MLS) channel with this agent as its only member. Use it to start a " +
        "conversation that does not exist yet; to enter an existing channel use channel_join instead. " +
        "Then call channel_invite (or channel_add_member) to let other agents in.",
      inputSchema,
      outputSchema,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    ({ channel }, extra) =>
      respond(ctx, NAME, extra, async (): Promise<z.infer<typeof outputSchema>> => {
        const state = toChannelState(await ctx.service.createChannel(channel));
        ctx.channelsChanged();
        return state;
      }),
  );
}
