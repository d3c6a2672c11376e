import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "../context.js";
import { respond } from "../results.js";
import { channelField, epochNumber, epochOutput } from "../schemas.js";

const NAME = "channel_members";
const inputSchema = z.object({ channel: channelField() }).strict();
const outputSchema = z.object({
  channel: z.string(),
  epoch: epochOutput,
  members: z.array(
    z.object({
      identity: z.string().describe("The member's agent name"),
      fingerprint: z.string().describe("Fingerprint of its signing key: compare it out of band to be sure who it is"),
    }),
  ),
});

export function registerChannelMembers(server: McpServer, ctx: ToolContext) {
  return server.registerTool(
    NAME,
    {
      title: "Show channel members",
      description:
        "List the members of a channel with the fingerprints of their signing keys. Use it to check who can read " +
        "what you send before sending anything sensitive, or to verify an agent's key.",
      inputSchema,
      outputSchema,
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    ({ channel }, extra) =>
      respond(ctx, NAME, extra, async (): Promise<z.infer<typeof outputSchema>> => {
        const view = await ctx.service.members(channel);
        return {
          channel: view.channel,
          epoch: epochNumber(view.epoch),
          members: view.members.map((m) => ({ identity: m.identity, fingerprint: m.fingerprint })),
        };
      }),
  );
}
