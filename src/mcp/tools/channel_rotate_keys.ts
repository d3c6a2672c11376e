import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "../context.js";
import { requireRelay } from "../relayGate.js";
import { respond } from "../results.js";
import { channelField, channelStateOutput, toChannelState } from "../schemas.js";

const NAME = "channel_rotate_keys";
const inputSchema = z.object({ channel: channelField() }).strict();
const outputSchema = z.object(channelStateOutput);

export function registerChannelRotateKeys(server: McpServer, ctx: ToolContext) {
  return server.registerTool(
    NAME,
    {
      title: "Rotate channel keys",
      description:
        "Replace this agent's keys in a channel and move it to a new epoch. Use it after a suspected leak of this " +
        "agent's state, or periodically on long-lived channels: messages sent afterwards are safe even if the old " +
        "keys were stolen.",
      inputSchema,
      outputSchema,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    ({ channel }, extra) =>
      respond(ctx, NAME, extra, async (): Promise<z.infer<typeof outputSchema>> => {
        requireRelay(ctx);
        return toChannelState(await ctx.service.rotateKeys(channel));
      }),
  );
}
