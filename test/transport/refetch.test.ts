import { describe, expect, it } from "vitest";
import { channelId, clientOf, mlsMessage, startFakeRelay, waitFor } from "./helpers.js";

describe("RelayClient.refetch", () => {
  it("replays a followed channel on the same link, frames delivered before included, after a subscribed event", async () => {
    const r = await startFakeRelay();
    const c = clientOf(r);
    const events: string[] = [];
    c.on("channel", (d) => events.push(`frame ${d.seq}`));
    c.on("subscribed", (s) => events.push(`subscribed from ${s.fromSeq} (last ${s.lastSeq})`));
    await c.connect();
    const channel = channelId();
    r.inject(mlsMessage(channel, 0n, 1, 10, 1));
    r.inject(mlsMessage(channel, 0n, 1, 10, 2));
    await c.subscribe(channel, 1n);
    await waitFor(() => events.includes("frame 2"));
    c.refetch(channel, 2n);
    await waitFor(() => events.filter((e) => e === "frame 2").length === 2);
    expect(events).toEqual(["subscribed from 1 (last 2)", "frame 1", "frame 2", "subscribed from 2 (last 2)", "frame 2"]);
    c.refetch(channelId(), 1n); // not followed: nothing happens
  });
});
