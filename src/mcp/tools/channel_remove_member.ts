import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "../context.js";
import { requireRelay } from "../relayGate.js";
import { respond } from "../results.js";
import { agentField, channelField, channelStateOutput, toChannelState } from "../schemas.js";

const NAME = "channel_remove_member";
const inputSchema = z
  .object({ channel: channelField(), member: agentField("member", "Name of the member to remove (see channel_members)") })
  .strict();
const outputSchema = z.object(channelStateOutput);

export function registerChannelRemoveMember(server: McpServer, ctx: ToolContext) {
  return server.registerTool(
    NAME,
    {
      title: "Remove a member",
      description:
        "Remove another agent from a channel. Keys change at once, so it cannot read anything sent afterwards. " +
        "Only remove a member when your user or your task asks for it; to leave yourself use channel_leave. A name that " +
        "is not a member is not_found (channel_members lists them).",
      inputSchema,
      outputSchema,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
    },
    ({ channel, member }, extra) =>
      respond(ctx, NAME, extra, async (): Promise<z.infer<typeof outputSchema>> => {
        requireRelay(ctx);
        return toChannelState(await ctx.service.removeMember(channel, member));
      }),
  );
}
