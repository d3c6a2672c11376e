/**
 * Inbox resources: `skytale://inbox` (every channel) and `skytale://inbox/{org}/{namespace}/{service}`
 * (one channel). Reading one returns the channel summary (epoch, members, unread count), never
 * message bodies, so reading does not consume what receive would return. A host that subscribes
 * gets notifications/resources/updated when a message lands. This is a bonus: several hosts drop or
 * never request these notifications, so receive stays the primary path.
 */
import { ResourceTemplate, type McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { McpError, ErrorCode, SubscribeRequestSchema, UnsubscribeRequestSchema, type ReadResourceResult } from "@modelcontextprotocol/sdk/types.js";
import type { ChannelSummary } from "../agent/types.js";
import type { ToolContext } from "./context.js";
import { channelField, toChannelState } from "./schemas.js";

export const INBOX_URI = "skytale://inbox";
const MIME_TYPE = "application/json";
/** JSON-RPC code the MCP spec gives "resource not found"; the SDK has no constant for it. */
const RESOURCE_NOT_FOUND = -32002;

export function inboxUri(channel: string): string {
  return `${INBOX_URI}/${channel}`;
}

/** The channel an inbox URI names, INBOX_URI itself as "all", or undefined for anything else. */
function parseInboxUri(uri: string): { channel: string } | "all" | undefined {
  if (uri === INBOX_URI) return "all";
  if (!uri.startsWith(`${INBOX_URI}/`)) return undefined;
  const parsed = channelField().safeParse(uri.slice(INBOX_URI.length + 1));
  return parsed.success ? { channel: parsed.data } : undefined;
}

function summaryJson(summary: ChannelSummary) {
  return { ...toChannelState(summary), unread: summary.unread };
}

function contents(uri: string, data: unknown): ReadResourceResult {
  return { contents: [{ uri, mimeType: MIME_TYPE, text: JSON.stringify(data) }] };
}

/** Registers the inbox resources and their subscriptions. Call before connect(). */
export function registerInbox(server: McpServer, ctx: ToolContext): void {
  const { service } = ctx;

  server.registerResource(
    "inbox",
    INBOX_URI,
    {
      title: "All channel inboxes",
      description: "Every channel this agent is in, with its members and unread count (no message text; use receive for that)",
      mimeType: MIME_TYPE,
    },
    async (uri) => contents(uri.href, { channels: (await service.channels()).map(summaryJson) }),
  );

  server.registerResource(
    "channel-inbox",
    new ResourceTemplate(`${INBOX_URI}/{+channel}`, {
      list: async () => ({
        resources: (await service.channels()).map((summary) => ({ uri: inboxUri(summary.channel), name: summary.channel, mimeType: MIME_TYPE })),
      }),
    }),
    {
      title: "Channel inbox",
      description: "One channel's epoch, members and unread count (no message text; use receive for that)",
      mimeType: MIME_TYPE,
    },
    async (uri) => {
      const target = parseInboxUri(uri.href);
      if (target === undefined || target === "all") {
        throw new McpError(ErrorCode.InvalidParams, `'${uri.href}' is not an inbox URI; use ${INBOX_URI}/org/namespace/service`);
      }
      const summary = (await service.channels()).find((s) => s.channel === target.channel);
      if (!summary) throw new McpError(RESOURCE_NOT_FOUND, `no channel '${target.channel}' on this agent; create it or join it first`);
      return contents(uri.href, summaryJson(summary));
    },
  );

  const subscribed = new Set<string>();
  // Listen to the service only while someone is subscribed: no work per message otherwise.
  let stopListening: (() => void) | undefined;
  const notify = (uri: string) => {
    if (!subscribed.has(uri)) return;
    server.server.sendResourceUpdated({ uri }).catch((error: unknown) => {
      ctx.log(`skytale-mcp: resource update for ${uri} not sent: ${error instanceof Error ? error.message : String(error)}`);
    });
  };
  const onMessage = (channel: string) => {
    notify(inboxUri(channel));
    notify(INBOX_URI);
  };
  const stop = () => {
    stopListening?.();
    stopListening = undefined;
  };

  server.server.setRequestHandler(SubscribeRequestSchema, (request) => {
    const { uri } = request.params;
    if (parseInboxUri(uri) === undefined) {
      throw new McpError(ErrorCode.InvalidParams, `cannot subscribe to '${uri}': use ${INBOX_URI} or ${INBOX_URI}/org/namespace/service`);
    }
    subscribed.add(uri);
    stopListening ??= service.onMessage(onMessage);
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, (request) => {
    subscribed.delete(request.params.uri);
    if (subscribed.size === 0) stop();
    return {};
  });

  // The server may be reconnected or dropped: a closed session must not keep a listener on the service.
  const previousOnClose = server.server.onclose;
  server.server.onclose = () => {
    subscribed.clear();
    stop();
    previousOnClose?.();
  };
}
