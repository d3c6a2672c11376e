import { hkdfSync, randomBytes } from "node:crypto";
import fc from "fast-check";
import { beforeAll, describe, expect, test } from "vitest";
import {
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type CiphersuiteImpl,
  type CiphersuiteName,
} from "ts-mls";
import { nodeCryptoProvider, UnsupportedCiphersuiteError } from "../../src/mls/crypto/nodeProvider.js";

const SUITE_1: CiphersuiteName = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";
const SUITE_3: CiphersuiteName = "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519";

describe("nodeCryptoProvider suites", () => {
  test.each([
    [SUITE_1, 16],
    [SUITE_3, 32],
  ] as const)("%s is served (AEAD key %i bytes)", async (name, keyLength) => {
    const cs = await nodeCryptoProvider.getCiphersuiteImpl(getCiphersuiteFromName(name));
    expect(cs.name).toBe(name);
    expect([cs.hpke.keyLength, cs.hpke.nonceLength, cs.kdf.size]).toEqual([keyLength, 12, 32]);
    expect(cs.rng.randomBytes(7)).toHaveLength(7);
  });

  test.each<CiphersuiteName>([
    "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
    "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448",
    "MLS_256_DHKEMP384_AES256GCM_SHA384_P384",
    "MLS_128_MLKEM512_AES128GCM_SHA256_Ed25519",
  ])("%s is refused with UnsupportedCiphersuiteError", async (name) => {
    const attempt = getCiphersuiteImpl(getCiphersuiteFromName(name), nodeCryptoProvider);
    await expect(attempt).rejects.toBeInstanceOf(UnsupportedCiphersuiteError);
    await expect(attempt).rejects.toMatchObject({ ciphersuite: name, name: "UnsupportedCiphersuiteError" });
  });
});

describe("hash and KDF agree with node's HKDF and ts-mls's default provider", () => {
  let ours: CiphersuiteImpl;
  let theirs: CiphersuiteImpl;
  beforeAll(async () => {
    ours = await getCiphersuiteImpl(getCiphersuiteFromName(SUITE_1), nodeCryptoProvider);
    theirs = await getCiphersuiteImpl(getCiphersuiteFromName(SUITE_1));
  });

  const bytes = (max: number) => fc.uint8Array({ maxLength: max });
  const okmLength = fc.integer({ min: 1, max: 255 * 32 });

  // The default provider is narrower than RFC 5869: @hpke/core takes only empty or hash-sized
  // salts, and WebCrypto refuses empty HMAC keys. MLS uses neither, so those cases are compared
  // with node's one-shot HKDF only.
  test("extract + expand equals crypto.hkdfSync", async () => {
    await fc.assert(
      fc.asyncProperty(bytes(80), bytes(80), bytes(80), okmLength, async (salt, ikm, info, len) => {
        const okm = await ours.kdf.expand(await ours.kdf.extract(salt, ikm), info, len);
        expect(okm).toStrictEqual(new Uint8Array(hkdfSync("sha256", ikm, salt, info, len)));
      }),
      { numRuns: 60 },
    );
  });

  test("extract + expand equals the default provider for MLS-shaped salts", async () => {
    const salt = fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: 32, maxLength: 32 }));
    await fc.assert(
      fc.asyncProperty(salt, bytes(80), bytes(80), okmLength, async (salt, ikm, info, len) => {
        const prk = await ours.kdf.extract(salt, ikm);
        expect(prk).toStrictEqual(await theirs.kdf.extract(salt, ikm));
        expect(await ours.kdf.expand(prk, info, len)).toStrictEqual(await theirs.kdf.expand(prk, info, len));
      }),
      { numRuns: 60 },
    );
  });

  test("digest and mac equal the default provider; verifyMac rejects altered or truncated tags", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 100 }), bytes(200), async (key, data) => {
        expect(await ours.hash.digest(data)).toStrictEqual(await theirs.hash.digest(data));
        const mac = await ours.hash.mac(key, data);
        expect(mac).toStrictEqual(await theirs.hash.mac(key, data));
        expect(await ours.hash.verifyMac(key, mac, data)).toBe(true);
        const altered = new Uint8Array(mac);
        altered[0]! ^= 0x80;
        expect(await ours.hash.verifyMac(key, altered, data)).toBe(false);
        expect(await ours.hash.verifyMac(key, mac.subarray(0, 31), data)).toBe(false);
      }),
      { numRuns: 60 },
    );
  });

  test("expand refuses lengths HKDF cannot produce", async () => {
    await expect(ours.kdf.expand(randomBytes(32), new Uint8Array(0), 255 * 32 + 1)).rejects.toBeInstanceOf(RangeError);
  });
});
