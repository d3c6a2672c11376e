// The inbox resources: a summary per channel that can be read without consuming messages, and
// notifications/resources/updated for subscribers when a message lands.
import { ResourceListChangedNotificationSchema, ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { INBOX_URI, inboxUri } from "../../src/mcp/inbox.js";
import { structured, twoAgents } from "./harness.js";

const CHANNEL = "acme/research/planning";
const URI = inboxUri(CHANNEL);

describe("inbox resources", () => {
  let agents: Awaited<ReturnType<typeof twoAgents>>;
  let updated: string[];
  beforeEach(async () => {
    agents = await twoAgents();
    await agents.planner.createChannel(CHANNEL);
    const { invite } = await agents.planner.invite(CHANNEL, { maxUses: 1, ttlSeconds: 60 });
    await agents.coder.joinWithInvite(invite);
    updated = [];
    agents.coderHost.client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
      updated.push(n.params.uri);
    });
  });
  afterEach(() => agents.close());

  it("lists the all-channels inbox and one inbox per channel", async () => {
    const { resources } = await agents.coderHost.client.listResources();
    expect(resources.map((r) => r.uri).sort()).toEqual([INBOX_URI, URI]);
    expect(resources.every((r) => r.mimeType === "application/json")).toBe(true);
    const { resourceTemplates } = await agents.coderHost.client.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate)).toEqual([`${INBOX_URI}/{+channel}`]);
  });

  it("a subscriber hears about a new message; reading shows the summary and consumes nothing", async () => {
    await agents.coderHost.client.subscribeResource({ uri: URI });
    await agents.plannerHost.call("send", { channel: CHANNEL, message: "the secret plan" });
    await expect.poll(() => updated).toEqual([URI]);

    const read = await agents.coderHost.client.readResource({ uri: URI });
    const [content] = read.contents;
    expect(content?.mimeType).toBe("application/json");
    const text = content && "text" in content ? content.text : "";
    expect(JSON.parse(text)).toEqual({ channel: CHANNEL, epoch: 1, members: ["planner", "coder"], unread: 1 });
    expect(text).not.toContain("the secret plan");

    // Still there for receive.
    const received = structured(await agents.coderHost.call("receive", {}));
    expect(received.messages).toMatchObject([{ message: "the secret plan" }]);
  });

  it("the all-channels inbox is updated for a message on any channel", async () => {
    await agents.coderHost.client.subscribeResource({ uri: INBOX_URI });
    await agents.plannerHost.call("send", { channel: CHANNEL, message: "hi" });
    await expect.poll(() => updated).toEqual([INBOX_URI]);
    const read = await agents.coderHost.client.readResource({ uri: INBOX_URI });
    const [content] = read.contents;
    expect(JSON.parse(content && "text" in content ? content.text : "")).toEqual({
      channels: [{ channel: CHANNEL, epoch: 1, members: ["planner", "coder"], unread: 1 }],
    });
  });

  it("no updates without a subscription, and none after unsubscribing; the service listener goes away", async () => {
    await agents.plannerHost.call("send", { channel: CHANNEL, message: "one" });
    expect(agents.coder.listenerCount).toBe(0);
    await agents.coderHost.client.subscribeResource({ uri: URI });
    expect(agents.coder.listenerCount).toBe(1);
    await agents.coderHost.client.unsubscribeResource({ uri: URI });
    expect(agents.coder.listenerCount).toBe(0);
    await agents.plannerHost.call("send", { channel: CHANNEL, message: "two" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(updated).toEqual([]);
  });

  it("closing the session drops the service listener", async () => {
    await agents.coderHost.client.subscribeResource({ uri: URI });
    expect(agents.coder.listenerCount).toBe(1);
    await agents.coderHost.close();
    expect(agents.coder.listenerCount).toBe(0);
  });

  it("refuses to subscribe to or read URIs that are not inboxes", async () => {
    await expect(agents.coderHost.client.subscribeResource({ uri: "skytale://inbox/Not/A/Channel" })).rejects.toThrow(/cannot subscribe/);
    await expect(agents.coderHost.client.subscribeResource({ uri: "file:///etc/passwd" })).rejects.toThrow(/cannot subscribe/);
    await expect(agents.coderHost.client.readResource({ uri: "skytale://inbox/a/b" })).rejects.toThrow(/not an inbox URI/);
    await expect(agents.coderHost.client.readResource({ uri: inboxUri("nope/nope/nope") })).rejects.toThrow(/no channel 'nope\/nope\/nope'/);
  });

  it("tells the host when the channel list changes", async () => {
    let changed = 0;
    agents.coderHost.client.setNotificationHandler(ResourceListChangedNotificationSchema, () => {
      changed++;
    });
    await agents.coderHost.call("channel_create", { channel: "acme/research/other" });
    await agents.coderHost.call("channel_leave", { channel: "acme/research/other" });
    await expect.poll(() => changed).toBe(2);
  });
});
