// A packed message is bounded in parts, not only in bytes: one frame of tiny parts must not make
// thousands of inbox rows (each sealed at rest and written) and listener notifications.
import { createApplicationMessage } from "ts-mls";
import { describe, expect, it } from "vitest";
import { encodePrivateMessage } from "../../src/mls/messages.js";
import { encodePacked, MAX_PACKED_BYTES, MAX_PACKED_PARTS, packedSize } from "../../src/mls/packedPayloads.js";
import { loadCiphersuite } from "../../src/mls/suite.js";
import { groupOf, stateOf, text, untext } from "../helpers.js";

const CHANNEL = "acme/ops/packed-parts";

describe("packed message parts", () => {
  it("a member's pack of thousands of empty texts within the byte limit is refused and stores nothing", async () => {
    const [[alice, bob]] = await groupOf(CHANNEL, "alice", "bob");
    const empty = text("");
    const count = Math.floor((MAX_PACKED_BYTES - 1) / packedSize(empty));
    expect(count).toBeGreaterThan(3000);
    const forged = encodePacked(Array.from({ length: count }, () => empty));
    const { privateMessage } = await createApplicationMessage(stateOf(alice!, CHANNEL), forged, await loadCiphersuite());
    await expect(bob!.mls.receive(CHANNEL, encodePrivateMessage(privateMessage), 1)).rejects.toMatchObject({ code: "bad_message" });
    expect(bob!.store.undelivered(CHANNEL, 10_000)).toEqual([]);
  });

  it("a sender never packs more parts than a receiver reads", async () => {
    const [[alice, bob]] = await groupOf(CHANNEL, "alice", "bob");
    const texts = Array.from({ length: 3 * MAX_PACKED_PARTS + 5 }, (_, i) => `m${i}`);
    const sealed = await Promise.all(texts.map((t) => alice!.mls.seal(CHANNEL, text(t))));
    const messages = [...new Set(sealed)];
    expect(messages.every((m) => m.payloads <= MAX_PACKED_PARTS)).toBe(true);
    expect(messages.length).toBeLessThan(texts.length);
    const outcomes = await bob!.mls.receiveAll(CHANNEL, messages.map((m, i) => ({ bytes: m.bytes, seq: i + 1 })));
    expect(outcomes.flat().flatMap((o) => (o.kind === "application" ? o.payloads.map(untext) : []))).toEqual(texts);
  });
});
