import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "../context.js";
import { respond } from "../results.js";
import { encodeBase64url } from "../schemas.js";

const NAME = "key_package";
const inputSchema = z.object({}).strict();
const outputSchema = z.object({
  key_package: z.string().describe("Single-use key package (base64url): give it to a member, who passes it to channel_add_member"),
});

export function registerKeyPackage(server: McpServer, ctx: ToolContext) {
  return server.registerTool(
    NAME,
    {
      title: "Make a key package",
      description:
        "Create a fresh single-use skytale key package (MLS) for the manual join flow: give it to a member of the channel, whose " +
        "channel_add_member returns a welcome; then call channel_join with channel and that welcome. Prefer invites " +
        "(channel_invite / channel_join with invite) when the member can create one. Each call makes a new package.",
      inputSchema,
      outputSchema,
      // Local only: it stores a new private key in this agent's data dir and talks to no one.
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    (_args, extra) =>
      respond(ctx, NAME, extra, async (): Promise<z.infer<typeof outputSchema>> => ({
        key_package: encodeBase64url(await ctx.service.keyPackage()),
      })),
  );
}
