import { createApplicationMessage } from "ts-mls";
import { describe, expect, it } from "vitest";
import { MlsError } from "../../src/mls/errors.js";
import { CHANNEL_NAME_EXTENSION, GENESIS_EXTENSION } from "../../src/mls/keyPackages.js";
import { encodePrivateMessage } from "../../src/mls/messages.js";
import { MAX_PACKED_BYTES, PACKED_MARKER } from "../../src/mls/packedPayloads.js";
import { loadCiphersuite } from "../../src/mls/suite.js";
import { generationOf, groupOf, keyPackageAdvertising, stateOf, text, untext } from "../helpers.js";

const CHANNEL = "acme/ops/packing";

/** A key package as a release before packing made it: no packed-payloads capability. */
const keyPackageWithoutPacking = (name: string) => keyPackageAdvertising(name, [CHANNEL_NAME_EXTENSION, GENESIS_EXTENSION]);

describe("packed application messages", () => {
  it("payloads sealed together travel in one message, and the receiver stores each, in order, under its seq", async () => {
    const [[alice, bob]] = await groupOf(CHANNEL, "alice", "bob");
    const single = await alice!.mls.seal(CHANNEL, text("alone"));
    expect(single.payloads).toBe(1);
    // Calls made in one turn are all queued before the channel's lock lets the first run.
    const sealed = await Promise.all(Array.from({ length: 12 }, (_, i) => alice!.mls.seal(CHANNEL, text(`m${i}`))));
    expect(new Set(sealed).size).toBe(1);
    expect(sealed[0]!.payloads).toBe(12);
    const packed = sealed[0]!.bytes;
    expect(await generationOf(bob!, CHANNEL, packed)).toBe(1);

    const outcomes = await bob!.mls.receiveAll(CHANNEL, [{ bytes: single.bytes, seq: 1 }, { bytes: packed, seq: 2 }]);
    const read = outcomes.flat().flatMap((o) => (o.kind === "application" ? o.payloads.map(untext) : []));
    const expected = ["alone", ...Array.from({ length: 12 }, (_, i) => `m${i}`)];
    expect(read).toEqual(expected);
    const inbox = bob!.store.undelivered(CHANNEL, 100);
    expect(inbox.map((m) => [untext(m.plaintext), m.seq])).toEqual(expected.map((t, i) => [t, i === 0 ? 1 : 2]));
  });

  it("a message holds at most MAX_PACKED_BYTES of payloads; a payload too big for one goes alone", async () => {
    const [[alice, bob]] = await groupOf(CHANNEL, "alice", "bob");
    const kib = (tag: string) => text(tag.padEnd(1024, "."));
    const payloads = [kib("head"), ...Array.from({ length: 30 }, (_, i) => kib(`p${i}`)), new Uint8Array(MAX_PACKED_BYTES).fill(7), kib("tail")];
    const sealed = await Promise.all(payloads.map((p) => alice!.mls.seal(CHANNEL, p)));
    const messages = [...new Set(sealed)];
    expect(messages.map((m) => m.payloads)).toEqual([14, 14, 3, 1, 1]);
    const outcomes = await bob!.mls.receiveAll(CHANNEL, messages.map((m, i) => ({ bytes: m.bytes, seq: i + 1 })));
    const read = outcomes.flat().flatMap((o) => (o.kind === "application" ? o.payloads : []));
    expect(read).toEqual(payloads);
  });

  it("encrypt never packs, and a payload starting with the marker byte is refused", async () => {
    const [[alice]] = await groupOf(CHANNEL, "alice", "bob");
    const sent = await Promise.all([0, 1, 2].map((i) => alice!.mls.encrypt(CHANNEL, text(`m${i}`))));
    expect(new Set(sent.map((s) => Buffer.from(s).toString("hex"))).size).toBe(3);
    await expect(alice!.mls.seal(CHANNEL, new Uint8Array([PACKED_MARKER, 1]))).rejects.toMatchObject({ code: "bad_request" });
    await expect(alice!.mls.encrypt(CHANNEL, new Uint8Array([PACKED_MARKER]))).rejects.toBeInstanceOf(MlsError);
  });

  it("in a group with a member whose leaf does not advertise packing, every payload gets its own message", async () => {
    const [[alice]] = await groupOf(CHANNEL, "alice", "bob");
    await alice!.mls.addMembers(CHANNEL, [await keyPackageWithoutPacking("olde")]);
    await alice!.mls.confirmCommit(CHANNEL);
    const sealed = await Promise.all(Array.from({ length: 6 }, (_, i) => alice!.mls.seal(CHANNEL, text(`m${i}`))));
    expect(sealed.map((s) => s.payloads)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(new Set(sealed).size).toBe(6);
  });

  it("a member's packed message whose parts do not add up is refused, stores nothing, and the channel reads on", async () => {
    const [[alice, bob]] = await groupOf(CHANNEL, "alice", "bob");
    const cs = await loadCiphersuite();
    const forged = new Uint8Array([PACKED_MARKER, 0, 0, 0, 9, 1, 2, 3]);
    const { privateMessage } = await createApplicationMessage(stateOf(alice!, CHANNEL), forged, cs);
    await expect(bob!.mls.receive(CHANNEL, encodePrivateMessage(privateMessage), 1)).rejects.toMatchObject({ code: "bad_message" });
    expect(bob!.store.undelivered(CHANNEL, 10)).toEqual([]);
    const next = await alice!.mls.encrypt(CHANNEL, text("still readable"));
    const outcomes = await bob!.mls.receive(CHANNEL, next, 1);
    expect(outcomes.flatMap((o) => (o.kind === "application" ? o.payloads.map(untext) : []))).toEqual(["still readable"]);
  });
});
