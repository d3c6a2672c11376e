import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { ToolContext } from "../context.js";
import { respond } from "../results.js";
import { agentField } from "../schemas.js";

const NAME = "contact_remove";
const inputSchema = z.object({ name: agentField("name", "The contact's name") }).strict();
const outputSchema = z.object({ name: z.string(), removed: z.boolean().describe("False when no contact had that name") });

export function registerContactRemove(server: McpServer, ctx: ToolContext) {
  return server.registerTool(
    NAME,
    {
      title: "Remove a contact",
      description:
        "Forget the key pinned to a skytale contact's name, for example when a person confirmed that the agent really has a new key " +
        "(then add the new one with contact_add). Until a key is pinned again, the name shows trust 'unknown'.",
      inputSchema,
      outputSchema,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ name }, extra) => respond(ctx, NAME, extra, async (): Promise<z.infer<typeof outputSchema>> => ctx.service.removeContact(name)),
  );
}
