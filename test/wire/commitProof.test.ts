import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { commitKeyPair, commitProofValid, proveCommit } from "../../src/wire/commitProof.js";
import { decodeEnvelope, encodeEnvelope } from "../../src/wire/envelope.js";
import { WireError } from "../../src/wire/errors.js";

const channel = randomBytes(16);
const commit = randomBytes(700);
const seed = randomBytes(32);
const nextSeed = randomBytes(32);
const key = commitKeyPair(seed).publicKey;

describe("commit proofs", () => {
  it("verify under the epoch's key, and name the next epoch's key", () => {
    const proof = proveCommit(channel, 7n, commit, seed, nextSeed);
    expect(commitProofValid(channel, 7n, commit, proof, key)).toBe(true);
    expect(proof.nextKey).toEqual(commitKeyPair(nextSeed).publicKey);
    // Ed25519 is deterministic: the same commit gets the same proof on a retry.
    expect(proveCommit(channel, 7n, commit, seed, nextSeed)).toEqual(proof);
  });

  it("fail for another key, epoch, channel, commit or next key, and for keys that are not curve points", () => {
    const proof = proveCommit(channel, 7n, commit, seed, nextSeed);
    const flipped = (b: Uint8Array) => Uint8Array.from(b, (x, i) => (i === 3 ? x ^ 1 : x));
    expect(commitProofValid(channel, 7n, commit, proof, commitKeyPair(randomBytes(32)).publicKey)).toBe(false);
    expect(commitProofValid(channel, 8n, commit, proof, key)).toBe(false);
    expect(commitProofValid(randomBytes(16), 7n, commit, proof, key)).toBe(false);
    expect(commitProofValid(channel, 7n, flipped(commit), proof, key)).toBe(false);
    expect(commitProofValid(channel, 7n, commit, { ...proof, nextKey: flipped(proof.nextKey) }, key)).toBe(false);
    expect(commitProofValid(channel, 7n, commit, { ...proof, signature: flipped(proof.signature) }, key)).toBe(false);
    expect(commitProofValid(channel, 7n, commit, proof, new Uint8Array(32).fill(0xff))).toBe(false);
    expect(commitProofValid(channel, 7n, commit, proof, key.subarray(1))).toBe(false);
  });

  it("travel in a GroupCommit envelope; a malformed proof section is a WireError", () => {
    const proof = proveCommit(channel, 7n, commit, seed, nextSeed);
    const bytes = encodeEnvelope({ type: "GroupCommit", id: 1n, commit, welcome: { recipients: [new Uint8Array(32).fill(7)], welcome: randomBytes(40) }, proof });
    expect(decodeEnvelope(bytes)).toMatchObject({ type: "GroupCommit", proof });
    const bare = encodeEnvelope({ type: "GroupCommit", id: 1n, commit, welcome: undefined });
    expect(decodeEnvelope(bare)).toMatchObject({ type: "GroupCommit", proof: undefined });
    const badFlag = Uint8Array.from(bare);
    badFlag[badFlag.length - 1] = 2;
    expect(() => decodeEnvelope(badFlag)).toThrow(WireError);
    expect(() => decodeEnvelope(bytes.subarray(0, bytes.length - 1))).toThrow(WireError);
    expect(() => encodeEnvelope({ type: "GroupCommit", id: 1n, commit, welcome: undefined, proof: { ...proof, signature: proof.signature.subarray(1) } })).toThrow(WireError);
  });
});
