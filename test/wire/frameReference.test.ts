// The sealer reuses buffers for speed; these tests pin its output to a straightforward reference
// of the frame format (AES-256-GCM, nonce = 4 zero bytes | 64-bit frame counter, plaintext =
// length | piece | length | piece ... | zeros), so an optimisation can never change what goes on
// the wire.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { BUCKETS } from "../../src/wire/buckets.js";
import { FrameOpener, FrameSealer } from "../../src/wire/frames.js";

function referenceSeal(key: Uint8Array, counter: number, pieces: readonly Uint8Array[], size: number): Buffer {
  const plaintext = Buffer.concat([...pieces.flatMap((p) => [Buffer.from([p.length >> 8, p.length & 0xff]), p]), Buffer.alloc(size - 16)], size - 16);
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(counter), 4);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function referenceOpen(key: Uint8Array, counter: number, frame: Uint8Array): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(counter), 4);
  const decipher = createDecipheriv("aes-256-gcm", key, nonce);
  decipher.setAuthTag(frame.subarray(frame.length - 16));
  return Buffer.concat([decipher.update(frame.subarray(0, frame.length - 16)), decipher.final()]);
}

describe("frames against a reference implementation", () => {
  it("a mix of sizes, envelopes and cover frames seals byte for byte like the reference", () => {
    const key = randomBytes(32);
    const sealer = new FrameSealer(key);
    let counter = 0;
    for (let round = 0; round < 3; round++) {
      for (const size of BUCKETS) {
        // A full frame, then a short envelope and a cover frame in the same bucket: the fill of
        // each must be zeros again, whatever the frame before it carried.
        for (const envelope of [randomBytes(size - 18), randomBytes(1 + round), undefined]) {
          const frame = sealer.seal(envelope, size);
          expect(Buffer.from(frame).equals(referenceSeal(key, counter, envelope === undefined ? [] : [envelope], size))).toBe(true);
          const plaintext = referenceOpen(key, counter, frame);
          const length = envelope?.length ?? 0;
          expect(plaintext.readUInt16BE(0)).toBe(length);
          expect(plaintext.subarray(2 + length).every((b) => b === 0)).toBe(true);
          counter++;
        }
        // Several pieces packed in one frame, then a frame with one: again zeros after the last piece.
        const third = Math.floor((size - 16) / 3);
        for (const pieces of [[randomBytes(third - 2), randomBytes(third - 2), randomBytes(1)], [randomBytes(3)]]) {
          const frame = sealer.sealPieces(pieces, size);
          expect(Buffer.from(frame).equals(referenceSeal(key, counter, pieces, size))).toBe(true);
          counter++;
        }
      }
    }
  });

  it("opens reference frames, and keeps the counter across a rekey", () => {
    const key = randomBytes(32);
    const interval = 5;
    const opener = new FrameOpener(key, interval);
    const sealer = new FrameSealer(key, interval);
    let current = Buffer.from(key);
    for (let counter = 0; counter < 3 * interval; counter++) {
      if (counter > 0 && counter % interval === 0) current = Buffer.from(hkdfSync("sha256", current, Buffer.alloc(0), "skytale/link/rekey", 32));
      const envelope = randomBytes(100);
      const frame = referenceSeal(current, counter, [envelope], 256);
      expect(opener.open(frame)).toEqual([new Uint8Array(envelope)]);
      expect(Buffer.from(sealer.seal(envelope, 256)).equals(frame)).toBe(true);
    }
  });
});
