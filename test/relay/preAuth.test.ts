// Issue 13, point 3: sockets that have not authenticated must not hold the relay's resources.
import { connect, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { DEFAULT_LIMITS } from "../../src/relay/config.js";
import { eventually } from "../helpers.js";
import { link, startRelay } from "./relayFixture.js";

function halfSentUpgrade(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.write("GET /v1/link HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"); // never finished
      socket.resume(); // read the 408, so that the close is seen
      resolve(socket);
    });
    socket.on("error", reject);
  });
}

describe("relay: sockets before authentication", () => {
  it("closes half-sent HTTP upgrades after the header timeout, not Node's 60 s, and serves real clients meanwhile", async () => {
    const relay = await startRelay({ limits: { ...DEFAULT_LIMITS, httpHeadersTimeoutMs: 300 } });
    const sockets = await Promise.all(Array.from({ length: 200 }, () => halfSentUpgrade(relay.port)));
    const closed = new Set<Socket>();
    for (const s of sockets) s.on("close", () => closed.add(s));
    const alice = await link(relay, "alice");
    expect(await alice.request({ type: "Ping", id: 0n })).toMatchObject({ type: "Pong" });
    await eventually(() => closed.size === sockets.length, 10_000).catch((e: Error) => {
      throw new Error(`${e.message}: ${closed.size} of ${sockets.length} closed`);
    });
  });
});
