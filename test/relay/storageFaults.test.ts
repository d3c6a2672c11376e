// A relay whose disk fills up: requests it cannot store are refused with an error frame (never
// acknowledged), the relay stays up for everyone, and once space is free the same frames are
// accepted with dense seqs, in one order for every subscriber, also after a restart.
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { Envelope } from "../../src/wire/envelope.js";
import { mountTmpfs, tmpfsAvailable, type Tmpfs } from "../fixtures/tmpfs.js";
import { groupOf, text } from "../helpers.js";
import { link, openAtRelay, startRelay } from "./relayFixture.js";

const CHANNEL = "acme/relay/full-disk";
const mounts: Tmpfs[] = [];
afterEach(() => mounts.splice(0).forEach((m) => m.unmount()));

describe.skipIf(!tmpfsAvailable)("a relay whose disk is full", () => {
  it("refuses what it cannot store, stays up, and accepts the same frames once space is free", async () => {
    const disk = mountTmpfs(2048);
    mounts.push(disk);
    const dataDir = join(disk.dir, "relay");
    const [[alice], stream] = await groupOf(CHANNEL, "alice", "bob");
    const groupId = (await alice!.mls.channelInfo(CHANNEL)).groupId;
    let relay = await startRelay({ dataDir });
    const pub = await link(relay, "alice");
    await openAtRelay(pub, stream); // seq 1: the commit that added bob
    const sub = await link(relay, "bob");
    await sub.request({ type: "Subscribe", id: 0n, channel: groupId, fromSeq: 2n });

    disk.fill();
    const accepted: Uint8Array[] = [];
    let refused: { body: Uint8Array; answer: Envelope } | undefined;
    for (let i = 0; i < 5000 && refused === undefined; i++) {
      const body = await alice!.mls.encrypt(CHANNEL, text(`m${i}`.padEnd(1500, "z")));
      const answer = await pub.request({ type: "Msg", id: 0n, body }).catch((e: { answer: Envelope }) => e.answer);
      if (answer.type === "Ack") accepted.push(body);
      else refused = { body, answer };
    }
    expect(refused, "the disk never filled up").toBeDefined();
    expect(refused!.answer).toMatchObject({ type: "Error", code: expect.stringMatching(/^(internal|storage_full|unavailable)$/) });
    expect(await pub.request({ type: "Ping", id: 0n })).toMatchObject({ type: "Pong" });
    expect(await sub.request({ type: "Ping", id: 0n })).toMatchObject({ type: "Pong" });

    disk.free();
    expect(await pub.request({ type: "Msg", id: 0n, body: refused!.body })).toMatchObject({ type: "Ack", seq: BigInt(accepted.length + 2) });
    const all = [...accepted, refused!.body];
    await sub.waitFor((pushed) => pushed.filter((e) => e.type === "Msg").length >= all.length);
    const seen = sub.pushed.filter((e) => e.type === "Msg") as Extract<Envelope, { type: "Msg" }>[];
    expect(seen.map((e) => e.id)).toEqual(all.map((_, i) => BigInt(i + 2)));
    expect(seen.map((e) => Buffer.from(e.body).toString("hex"))).toEqual(all.map((b) => Buffer.from(b).toString("hex")));

    await relay.close();
    relay = await startRelay({ dataDir });
    const late = await link(relay, "bob");
    await late.request({ type: "Subscribe", id: 0n, channel: groupId, fromSeq: 2n });
    await late.waitFor((pushed) => pushed.filter((e) => e.type === "Msg").length >= all.length);
    expect(late.pushed.filter((e) => e.type === "Msg").map((e) => e.id)).toEqual(all.map((_, i) => BigInt(i + 2)));
  });
});
