// Clients for bench/relay.bench.ts in their own process, so that client work does not slow the
// parent's clock or the other clients. Forked with an IPC channel:
//   subs KIND URL KEY CHANNEL COUNT MESSAGES: COUNT subscribers; "ready" once subscribed, "warm"
//     once every one of them received the warm-up messages, "done" once they received MESSAGES more.
//   pub KIND URL KEY CHANNEL 1 MESSAGES: one publisher; "ready" when connected, on "warm" publishes
//     the warm-up messages and says "warmed", on "go" publishes MESSAGES messages and says
//     "published"; at most 64 unacknowledged at any time.
// The warm-up (as many messages as measured, at most WARMUP) lets the JIT settle in every process.
// Exits when the parent disconnects.
import { connectClient, messageBody, type RelayKind } from "./relayBenchClient.js";

export type ChildReport = "ready" | "warm" | "warmed" | "done" | "published";
const WINDOW = 64;
const WARMUP = 2000;

const [role, kind, url, keyB64, channelHex, countText, messagesText] = process.argv.slice(2) as [string, RelayKind, string, string, string, string, string];
const key = new Uint8Array(Buffer.from(keyB64, "base64url"));
const channel = new Uint8Array(Buffer.from(channelHex, "hex"));
const count = Number(countText);
const messages = Number(messagesText);
const warmup = Math.min(messages, WARMUP);
const report = (what: ChildReport) => process.send!(what);
process.on("disconnect", () => process.exit(0));

if (role === "subs") {
  const clients = await Promise.all(Array.from({ length: count }, (_, i) => connectClient(kind, url, key, `sub${process.pid}-${i}`, channel)));
  for (const c of clients) await c.subscribe();
  const finished = { warm: 0, done: 0 };
  for (const c of clients) {
    c.onReceive(() => {
      const n = c.received();
      if (n === warmup && ++finished.warm === clients.length) report("warm");
      if (n === warmup + messages && ++finished.done === clients.length) report("done");
    });
  }
  report("ready");
} else {
  const publisher = await connectClient(kind, url, key, `pub${process.pid}`, channel);
  const warmBodies = Array.from({ length: warmup }, () => messageBody(channel));
  const bodies = Array.from({ length: messages }, () => messageBody(channel));
  process.on("message", (m) => {
    if (m === "warm") void publisher.publish(warmBodies, WINDOW).then(() => report("warmed"));
    if (m === "go") void publisher.publish(bodies, WINDOW).then(() => report("published"));
  });
  report("ready");
}
