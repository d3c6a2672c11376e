import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { JoinResult } from "../../agent/types.js";
import type { ToolContext } from "../context.js";
import { requireRelay } from "../relayGate.js";
import { respond } from "../results.js";
import { base64urlField, channelField, decodeBase64url, epochOutput, epochNumber, inviteField, MAX_WELCOME_BYTES, waitField } from "../schemas.js";

const NAME = "channel_join";
const inputSchema = z
  .object({
    invite: inviteField().optional(),
    channel: channelField().optional(),
    welcome: base64urlField("welcome", MAX_WELCOME_BYTES, "Welcome (base64url) from a member's channel_add_member; needs channel").optional(),
    wait_ms: waitField("With invite: how long to wait for a member to answer before answering 'pending' (default: the agent's own, 10 s)").optional(),
  })
  .strict()
  // JSON Schema cannot say "exactly one of" in a way every host shows, so the rule is checked here
  // and spelled out in the description.
  .superRefine((args, check) => {
    const withInvite = args.invite !== undefined;
    const withWelcome = args.channel !== undefined || args.welcome !== undefined;
    if (withInvite && withWelcome) {
      check.addIssue({ code: "custom", message: "give either invite, or channel and welcome, not both" });
    } else if (!withInvite && !withWelcome) {
      check.addIssue({ code: "custom", message: "give either invite (from channel_invite), or channel and welcome (from channel_add_member)" });
    } else if (withWelcome && (args.channel === undefined || args.welcome === undefined)) {
      check.addIssue({ code: "custom", message: "joining with a Welcome needs both channel and welcome" });
    } else if (withWelcome && args.wait_ms !== undefined) {
      check.addIssue({ code: "custom", message: "wait_ms applies only to joining with an invite" });
    }
  });
const outputSchema = z.object({
  channel: z.string(),
  status: z.enum(["joined", "pending"]),
  epoch: epochOutput.optional(),
  members: z.array(z.string()).optional(),
  note: z.string().optional().describe("With status pending: why no member answered yet, and what to do"),
});
type Output = z.infer<typeof outputSchema>;

function toOutput(result: JoinResult): Output {
  if (result.status === "pending") {
    return {
      channel: result.channel,
      status: "pending",
      note: `${capitalized(result.note)} To check on it, call channel_join again with the same invite (it sends no new request), or see channel_list's joins.`,
    };
  }
  return { channel: result.channel, status: "joined", epoch: epochNumber(result.epoch), members: [...result.members] };
}

export function registerChannelJoin(server: McpServer, ctx: ToolContext) {
  return server.registerTool(
    NAME,
    {
      title: "Join a channel",
      description:
        "Join an existing encrypted channel. Give exactly one of: invite (a token from a member's channel_invite; the " +
        "usual way), or channel plus welcome (the manual flow: you sent your key_package to a member, and its " +
        "channel_add_member returned the welcome). status 'pending' means no member answered in time (none online): the " +
        "request waits and the join finishes on its own when a member comes online; calling channel_join again with the " +
        "same invite checks on it without sending another request. A member refuses a used-up, expired or revoked invite: " +
        "invite_used_up, invite_expired, invite_revoked (ask a member for a new invite). Once joined, use send and receive.",
      inputSchema,
      outputSchema,
      // Each call with an invite sends a fresh join request and may use up one of the invite's uses.
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    (args, extra) =>
      respond(ctx, NAME, extra, async (): Promise<Output> => {
        if (args.invite !== undefined) requireRelay(ctx);
        const result =
          args.invite !== undefined
            ? await ctx.service.joinWithInvite(args.invite, args.wait_ms)
            : // the refinement above guarantees channel and welcome here
              await ctx.service.joinWithWelcome(args.channel ?? "", decodeBase64url(args.welcome ?? ""));
        if (result.status === "joined") ctx.channelsChanged();
        return toOutput(result);
      }),
  );
}

function capitalized(sentence: string): string {
  return sentence.charAt(0).toUpperCase() + sentence.slice(1);
}
