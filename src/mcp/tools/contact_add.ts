import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ContactView } from "../../agent/types.js";
import type { ToolContext } from "../context.js";
import { respond } from "../results.js";
import { agentField, didField, safetyCodeField } from "../schemas.js";

const NAME = "contact_add";
const inputSchema = z
  .object({
    name: agentField("name", "The agent's name"),
    did: didField("Its identity key as a did:key, as its whoami shows it").optional(),
    safety_code: safetyCodeField("Its safety code (20 digits), read from its whoami by a person; the relay's key for the name must match it").optional(),
  })
  .strict()
  .superRefine((args, check) => {
    if ((args.did === undefined) === (args.safety_code === undefined)) check.addIssue({ code: "custom", message: "give exactly one of did or safety_code" });
  });

export const contactOutput = z.object({
  name: z.string(),
  did: z.string(),
  safety_code: z.string(),
  verified: z.boolean().describe("A person confirmed this key for this name"),
  source: z.string().describe("Where the key came from: explicit, invite, channel or key_package"),
});

export function toContactOutput(c: ContactView): z.infer<typeof contactOutput> {
  return { name: c.name, did: c.did, safety_code: c.safetyCode, verified: c.verified, source: c.source };
}

export function registerContactAdd(server: McpServer, ctx: ToolContext) {
  return server.registerTool(
    NAME,
    {
      title: "Add or verify a contact",
      description:
        "Pin another skytale agent's name to its identity key, as verified: give its did:key, or the safety code a person read " +
        "from it (then the relay is asked for the key it knows under that name, and its code must match, else " +
        "identity_mismatch). After this, channel_add_member by this name adds exactly that key, and messages and " +
        "members under this name show trust 'verified'. Only add keys your user gave you or confirmed: this " +
        "replaces what was pinned to the name.",
      inputSchema,
      outputSchema: contactOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: true },
    },
    ({ name, did, safety_code }, extra) =>
      respond(ctx, NAME, extra, async (): Promise<z.infer<typeof contactOutput>> =>
        toContactOutput(await ctx.service.addContact(name, did !== undefined ? { did } : { safetyCode: safety_code ?? "" })),
      ),
  );
}
