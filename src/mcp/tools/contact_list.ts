import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "../context.js";
import { respond } from "../results.js";
import { contactOutput, toContactOutput } from "./contact_add.js";

const NAME = "contact_list";
const inputSchema = z.object({}).strict();
const outputSchema = z.object({ contacts: z.array(contactOutput) });

export function registerContactList(server: McpServer, ctx: ToolContext) {
  return server.registerTool(
    NAME,
    {
      title: "List contacts",
      description:
        "List this agent's skytale contacts: names of other agents pinned to identity keys (did:key), verified when a person confirmed the " +
        "key, otherwise learned from an invite or a channel joined. A message or member whose name is a contact but " +
        "whose key is not the pinned one shows trust 'conflict'.",
      inputSchema,
      outputSchema,
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    (_args, extra) =>
      respond(ctx, NAME, extra, async (): Promise<z.infer<typeof outputSchema>> => ({ contacts: (await ctx.service.contacts()).map(toContactOutput) })),
  );
}
