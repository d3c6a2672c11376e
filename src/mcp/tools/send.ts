import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { SendResult } from "../../agent/types.js";
import type { ToolContext } from "../context.js";
import { requireRelay } from "../relayGate.js";
import { respond } from "../results.js";
import { channelField, epochNumber, epochOutput, messageField } from "../schemas.js";

const NAME = "send";
const inputSchema = z.object({ channel: channelField(), message: messageField() }).strict();
const outputSchema = z.object({
  channel: z.string(),
  status: z
    .enum(["sent", "queued"])
    .describe("sent: the relay stored it for the members. queued: the relay is not reachable now; the message is stored and goes out by itself when it is. Either way it is sent: never send it again"),
  seq: z.number().int().optional().describe("Sequence number in the channel of the encrypted message that carried it (sent only); messages sent together can share one"),
  epoch: epochOutput,
  note: z.string().optional().describe("Why a queued message waits"),
});
type Output = z.infer<typeof outputSchema>;

function toOutput(result: SendResult): Output {
  if (result.status === "sent") return { channel: result.channel, status: "sent", seq: result.seq, epoch: epochNumber(result.epoch) };
  return {
    channel: result.channel,
    status: "queued",
    epoch: epochNumber(result.epoch),
    note: `${result.reason}. Do not send it again: it would arrive twice. If it cannot be delivered after all, receive reports message_not_delivered.`,
  };
}

export function registerSend(server: McpServer, ctx: ToolContext) {
  return server.registerTool(
    NAME,
    {
      title: "Send a message",
      description:
        "Send a text message to a skytale channel: every member of that end-to-end encrypted channel gets it. Use it to talk to " +
        "the other agents; read their answers with receive. Never put secrets in a message that the channel's " +
        "members should not see. status 'queued' means the relay is unreachable right now: the message is stored and goes " +
        "out by itself, so do not send it again.",
      inputSchema,
      outputSchema,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    ({ channel, message }, extra) =>
      respond(ctx, NAME, extra, async (): Promise<Output> => {
        requireRelay(ctx);
        return toOutput(await ctx.service.send(channel, message));
      }),
  );
}
