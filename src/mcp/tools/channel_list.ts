import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "../context.js";
import { respond } from "../results.js";
import { agentOutput, channelStateOutput, toAgentOutput, toChannelState } from "../schemas.js";

const NAME = "channel_list";
const inputSchema = z.object({}).strict();
const outputSchema = z.object({
  channels: z.array(
    z.object({
      ...channelStateOutput,
      name: z.string().describe("The channel's name as its creator gave it (channel differs when two of your channels share a name)"),
      creator: agentOutput.nullable().describe("Who made the channel (checked when this agent joined); null for channels from before channels named their creator"),
      unread: z.number().int().min(0).describe("Messages waiting for receive"),
    }),
  ),
  joins: z
    .array(
      z.object({
        channel: z.string(),
        status: z.enum(["pending", "refused"]).describe("pending: no member has answered yet; refused: a member refused it (see code)"),
        requested_at: z.string().describe("When the join request was sent (ISO 8601)"),
        code: z.string().optional().describe("Why it was refused: invite_used_up, invite_expired, invite_revoked, ..."),
        message: z.string().optional(),
      }),
    )
    .describe("Joins with an invite since this server started that have not completed; a completed one is in channels"),
});

export function registerChannelList(server: McpServer, ctx: ToolContext) {
  return server.registerTool(
    NAME,
    {
      title: "List channels",
      description:
        "List the channels this agent is a member of, with who made each, their members and how many messages wait " +
        "for receive. Names are labels anyone can pick: two channels may share one (then their 'channel' values " +
        "differ, name#id); tell them apart by creator. Use it to find out where you can send, or whether a pending " +
        "join has completed or was refused (joins). Reading it does not consume messages.",
      inputSchema,
      outputSchema,
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    (_args, extra) =>
      respond(ctx, NAME, extra, async (): Promise<z.infer<typeof outputSchema>> => ({
        channels: (await ctx.service.channels()).map((summary) => ({
          ...toChannelState(summary),
          name: summary.name,
          creator: summary.creator === undefined ? null : toAgentOutput(summary.creator),
          unread: summary.unread,
        })),
        joins: (await ctx.service.pendingJoins()).map((j) => ({
          channel: j.channel,
          status: j.status,
          requested_at: j.requestedAt,
          ...(j.error === undefined ? {} : { code: j.error.code, message: j.error.message }),
        })),
      })),
  );
}
