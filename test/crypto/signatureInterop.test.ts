import { randomBytes } from "node:crypto";
import { beforeAll, describe, expect, test } from "vitest";
import { getCiphersuiteFromName, getCiphersuiteImpl, type Signature } from "ts-mls";
import { CryptoError } from "ts-mls/mlsError.js";
import { nodeImpl } from "./vectors.js";

let ours: Signature;
let theirs: Signature;

beforeAll(async () => {
  ours = (await nodeImpl(1)).signature;
  theirs = (await getCiphersuiteImpl(getCiphersuiteFromName("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"))).signature;
});

describe("Ed25519 interop with ts-mls's default provider", () => {
  test("our keygen returns a raw 32-byte private key", async () => {
    const { signKey, publicKey } = await ours.keygen();
    expect([signKey.length, publicKey.length]).toEqual([32, 32]);
  });

  // The default provider's keygen returns 48-byte PKCS#8 private keys; ours returns raw 32 bytes.
  test.each([
    ["our 32-byte key", () => ours.keygen()],
    ["default's 48-byte PKCS#8 key", () => theirs.keygen()],
  ])("%s: sign with either, verify with both; signatures are identical", async (_, keygen) => {
    const { signKey, publicKey } = await keygen();
    const message = randomBytes(300);
    const a = await ours.sign(signKey, message);
    const b = await theirs.sign(signKey, message);
    expect(a).toStrictEqual(new Uint8Array(b)); // Ed25519 is deterministic
    for (const verifier of [ours, theirs]) {
      expect(await verifier.verify(publicKey, message, a)).toBe(true);
      expect(await verifier.verify(publicKey, message, b)).toBe(true);
    }
  });

  test("a 48-byte PKCS#8 key and its raw 32 bytes sign alike", async () => {
    const { signKey } = await theirs.keygen();
    expect(signKey.length).toBe(48);
    const message = randomBytes(10);
    expect(await ours.sign(signKey.subarray(16), message)).toStrictEqual(await ours.sign(signKey, message));
  });
});

describe("Ed25519 robustness", () => {
  test("verify returns false for malformed signatures and keys", async () => {
    const { signKey, publicKey } = await ours.keygen();
    const message = randomBytes(32);
    const sig = await ours.sign(signKey, message);
    const flipped = new Uint8Array(sig);
    flipped[10]! ^= 1;
    expect(await ours.verify(publicKey, message, flipped)).toBe(false);
    expect(await ours.verify(publicKey, message, sig.subarray(0, 63))).toBe(false);
    expect(await ours.verify(publicKey, message, new Uint8Array(0))).toBe(false);
    expect(await ours.verify(publicKey.subarray(1), message, sig)).toBe(false);
    expect(await ours.verify(new Uint8Array(0), message, sig)).toBe(false);
    expect(await ours.verify(new Uint8Array(32).fill(0xff), message, sig)).toBe(false);
    expect(await ours.verify(publicKey, randomBytes(32), sig)).toBe(false);
  });

  test("signing keys of the wrong length or form are a CryptoError", async () => {
    const message = randomBytes(8);
    await expect(ours.sign(randomBytes(31), message)).rejects.toBeInstanceOf(CryptoError);
    await expect(ours.sign(randomBytes(64), message)).rejects.toBeInstanceOf(CryptoError);
    await expect(ours.sign(randomBytes(48), message)).rejects.toBeInstanceOf(CryptoError); // not PKCS#8
  });

  test("a signing key buffer rewritten in place is re-imported, not served stale from the cache", async () => {
    const a = await ours.keygen();
    const b = await ours.keygen();
    const message = randomBytes(16);
    const buffer = new Uint8Array(a.signKey);
    expect(await ours.verify(a.publicKey, message, await ours.sign(buffer, message))).toBe(true);
    buffer.set(b.signKey);
    expect(await ours.verify(b.publicKey, message, await ours.sign(buffer, message))).toBe(true);
    buffer.fill(0); // zeroed by its owner: now simply the all-zero seed's key, never A's or B's
    const zeroKeySig = await ours.sign(buffer, message);
    expect(await ours.verify(a.publicKey, message, zeroKeySig)).toBe(false);
    expect(await ours.verify(b.publicKey, message, zeroKeySig)).toBe(false);
  });

  test("verification keys stay correct past the LRU bound", async () => {
    const message = randomBytes(16);
    const signers = await Promise.all(Array.from({ length: 1100 }, () => ours.keygen()));
    const sigs = await Promise.all(signers.map((s) => ours.sign(s.signKey, message)));
    for (let round = 0; round < 2; round++) {
      for (const [i, s] of signers.entries()) {
        expect(await ours.verify(s.publicKey, message, sigs[i]!)).toBe(true);
      }
    }
    expect(await ours.verify(signers[0]!.publicKey, message, sigs[1]!)).toBe(false);
  });
});
