import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "../context.js";
import { requireRelay } from "../relayGate.js";
import { respond } from "../results.js";
import {
  agentOrKeyField,
  base64urlField,
  channelField,
  channelStateOutput,
  decodeBase64url,
  encodeBase64url,
  MAX_KEY_PACKAGE_BYTES,
  toChannelState,
} from "../schemas.js";

const NAME = "channel_add_member";
const inputSchema = z
  .object({
    channel: channelField(),
    key_package: base64urlField("key_package", MAX_KEY_PACKAGE_BYTES, "Key package (base64url) the new member made with key_package").optional(),
    agent: agentOrKeyField("agent", "The agent to add through the relay's directory: the name of one of your contacts, or its did:key").optional(),
  })
  .strict()
  .superRefine((args, check) => {
    if ((args.key_package === undefined) === (args.agent === undefined)) {
      check.addIssue({ code: "custom", message: "give exactly one of key_package (from the new member's key_package tool) or agent (a contact's name or a did:key)" });
    }
  });
const outputSchema = z.object({
  ...channelStateOutput,
  welcome: z.string().describe("Welcome (base64url), for channel_join by the new member if the relay does not deliver it"),
});

export function registerChannelAddMember(server: McpServer, ctx: ToolContext) {
  return server.registerTool(
    NAME,
    {
      title: "Add a member to a channel",
      description:
        "Add another agent to a channel you are a member of, without an invite. Give exactly one of key_package " +
        "(the string the other agent's key_package tool returned) or agent: a contact's name or a did:key (its key " +
        "package is fetched from the relay's directory, so it may be offline, and must be of exactly that key: " +
        "identity_mismatch otherwise). A name that is not a contact is refused (unknown_contact): add it with " +
        "contact_add first. The new member's agent normally picks up its Welcome from " +
        "the relay by itself; if the channel does not show in its channel_list, it calls channel_join with this " +
        "channel and the returned welcome. Only add agents you were asked to add.",
      inputSchema,
      outputSchema,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    ({ channel, key_package, agent }, extra) =>
      respond(ctx, NAME, extra, async (): Promise<z.infer<typeof outputSchema>> => {
        requireRelay(ctx);
        // The refinement above guarantees agent is set when key_package is not.
        const who = key_package !== undefined ? { keyPackage: decodeBase64url(key_package) } : { agent: agent ?? "" };
        const result = await ctx.service.addMember(channel, who);
        return { ...toChannelState(result), welcome: encodeBase64url(result.welcome) };
      }),
  );
}
