import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "../context.js";
import { requireRelay } from "../relayGate.js";
import { respond } from "../results.js";
import { channelField, integer } from "../schemas.js";

const NAME = "channel_invite";
const MAX_TTL_SECONDS = 30 * 24 * 3600;
const inputSchema = z
  .object({
    channel: channelField(),
    max_uses: integer("max_uses", 1, 1000, "joins").default(1).describe("How many agents may join with this invite (default 1)"),
    ttl_seconds: integer("ttl_seconds", 60, MAX_TTL_SECONDS, "seconds")
      .default(3600)
      .describe("How long the invite stays valid, in seconds (default 3600)"),
  })
  .strict();
const outputSchema = z.object({
  channel: z.string(),
  invite: z.string().describe("Invite token: hand it to the agent that should join, which passes it to channel_join"),
  expires_at: z.string().describe("When the invite stops working (ISO 8601)"),
  max_uses: z.number().int(),
});

export function registerChannelInvite(server: McpServer, ctx: ToolContext) {
  return server.registerTool(
    NAME,
    {
      title: "Invite agents to a channel",
      description:
        "Create an invite token for a channel you are a member of. Use it to let another agent in: give it the token " +
        "(through your host, a file, or any channel it already reads) and it calls channel_join with it. Any online " +
        "member admits the joiner, so you do not have to stay online. The token lets its holder join: share it only " +
        "with the agents you mean to admit.",
      inputSchema,
      outputSchema,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    ({ channel, max_uses, ttl_seconds }, extra) =>
      respond(ctx, NAME, extra, async (): Promise<z.infer<typeof outputSchema>> => {
        requireRelay(ctx);
        const { invite, expiresAt } = await ctx.service.invite(channel, { maxUses: max_uses, ttlSeconds: ttl_seconds });
        return { channel, invite, expires_at: expiresAt.toISOString(), max_uses };
      }),
  );
}
