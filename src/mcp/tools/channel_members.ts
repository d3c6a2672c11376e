import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "../context.js";
import { respond } from "../results.js";
import { channelField, epochNumber, epochOutput, trustOutput } from "../schemas.js";

const NAME = "channel_members";
const inputSchema = z.object({ channel: channelField() }).strict();
const outputSchema = z.object({
  channel: z.string(),
  epoch: epochOutput,
  members: z.array(
    z.object({
      identity: z.string().describe("The name the member calls itself"),
      did: z.string().describe("Its identity key as a did:key: the member IS this key"),
      safety_code: z.string().describe("Its key as 20 digits, to compare with the safety code the agent shows in whoami"),
      trust: trustOutput,
    }),
  ),
});

export function registerChannelMembers(server: McpServer, ctx: ToolContext) {
  return server.registerTool(
    NAME,
    {
      title: "Show channel members",
      description:
        "List the members of a channel with their identity keys (did:key and safety code) and how far each is " +
        "trusted (verified, pinned, unknown, conflict). Use it to check who can read what you send before sending " +
        "anything sensitive: only a verified member is known to be who its name says.",
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
          members: view.members.map((m) => ({ identity: m.identity, did: m.did, safety_code: m.safetyCode, trust: m.trust })),
        };
      }),
  );
}
