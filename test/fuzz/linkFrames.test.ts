// Property tests over the link frame reader with authentic frames: the plaintext inside the AEAD
// is arbitrary (any lengths, any fill), as a peer holding the link key could make it. The reader
// must only ever return in-bounds pieces or throw its typed error, for the frame and for the
// envelopes in it. `npm test` runs a quick slice; `npm run soak` runs FUZZ_RUNS=100000.
import { createCipheriv, randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BUCKETS } from "../../src/wire/buckets.js";
import { encodeEnvelope } from "../../src/wire/envelope.js";
import { WireError } from "../../src/wire/errors.js";
import { FrameOpener } from "../../src/wire/frames.js";
import { LinkCodec } from "../../src/wire/link.js";

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
const TAG_BYTES = 16;
const KEY = randomBytes(32);

/** The first frame (counter 0) of a link under KEY carrying `plaintext` as it is. */
function authenticFrame(plaintext: Uint8Array): Uint8Array {
  const cipher = createCipheriv("aes-256-gcm", KEY, Buffer.alloc(12));
  const body = cipher.update(plaintext);
  return Buffer.concat([body, cipher.final(), cipher.getAuthTag()]);
}

/** Real envelopes, so that some frames hold readable pieces among the broken ones. */
const ENVELOPES = [encodeEnvelope({ type: "Ack", id: 7n, seq: 9n }), encodeEnvelope({ type: "Ping", id: 3n }), encodeEnvelope({ type: "Error", id: 1n, code: "internal", message: "x" })];

/** Plaintexts shaped like frames: length-prefixed chunks (lengths right, off or huge), then a fill. */
const plaintexts = fc
  .tuple(
    fc.constantFrom(...BUCKETS),
    fc.array(fc.tuple(fc.oneof(fc.constant("exact"), fc.constant("any")), fc.integer({ min: 0, max: 0xffff }), fc.oneof(fc.uint8Array({ maxLength: 600 }), fc.constantFrom(...ENVELOPES))), { maxLength: 12 }),
    fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: 1, maxLength: 8 })),
  )
  .map(([size, chunks, tail]) => {
    const plaintext = new Uint8Array(size - TAG_BYTES);
    let at = 0;
    for (const [kind, length, bytes] of chunks) {
      if (at + 2 > plaintext.length) break;
      const declared = kind === "exact" ? bytes.length : length;
      plaintext[at] = declared >> 8;
      plaintext[at + 1] = declared & 0xff;
      at += 2;
      const body = bytes.subarray(0, plaintext.length - at);
      plaintext.set(body, at);
      at += body.length;
    }
    plaintext.set(tail.subarray(0, plaintext.length - at), at);
    return plaintext;
  });

describe("link frames with arbitrary authentic plaintext", () => {
  it("the frame reader returns in-bounds non-empty pieces or throws WireError", () => {
    fc.assert(
      fc.property(plaintexts, (plaintext) => {
        const frame = authenticFrame(plaintext);
        let pieces: Uint8Array[];
        try {
          pieces = new FrameOpener(KEY).open(frame);
        } catch (error) {
          expect(error).toBeInstanceOf(WireError);
          return;
        }
        let used = 0;
        for (const piece of pieces) {
          expect(piece.length).toBeGreaterThan(0);
          used += 2 + piece.length;
        }
        expect(used).toBeLessThanOrEqual(plaintext.length);
        // What the pieces leave is all zeros: no byte of the plaintext goes unread.
        expect(plaintext.subarray(used).every((b) => b === 0)).toBe(true);
      }),
      { numRuns: RUNS, seed: 11 },
    );
  });

  it("the link reads envelopes from such frames or throws WireError, never anything else", () => {
    let read = 0;
    fc.assert(
      fc.property(plaintexts, (plaintext) => {
        const codec = new LinkCodec({ send: randomBytes(32), receive: KEY });
        try {
          const { envelopes } = codec.readEncoded(authenticFrame(plaintext));
          for (const { envelope } of envelopes) expect(["Ack", "Ping", "Error"]).toContain(envelope.type);
          read += envelopes.length;
        } catch (error) {
          expect(error).toBeInstanceOf(WireError);
        }
      }),
      { numRuns: RUNS, seed: 12 },
    );
    expect(read).toBeGreaterThan(0);
  });
});
