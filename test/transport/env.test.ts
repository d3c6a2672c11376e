import { describe, expect, it } from "vitest";
import { coverFromEnv, parseRelayKey, relayKeyFromEnv, tokenFromEnv } from "../../src/transport/env.js";
import { generateStaticKeyPair } from "../../src/wire/x25519.js";

describe("environment", () => {
  it("reads SKYTALE_COVER, SKYTALE_COVER_RATE and SKYTALE_COVER_CELL, default poisson at 8 KiB/s", () => {
    expect(coverFromEnv({})).toEqual({ mode: "poisson", rate: 8, cell: 1024 });
    expect(coverFromEnv({ SKYTALE_COVER: "constant" })).toEqual({ mode: "constant", rate: 32, cell: 1024 });
    expect(coverFromEnv({ SKYTALE_COVER: " Poisson ", SKYTALE_COVER_RATE: "2.5" })).toEqual({ mode: "poisson", rate: 2.5, cell: 1024 });
    expect(coverFromEnv({ SKYTALE_COVER_RATE: "200", SKYTALE_COVER_CELL: "32768" })).toEqual({ mode: "poisson", rate: 200, cell: 32768 });
    expect(coverFromEnv({ SKYTALE_COVER: "off", SKYTALE_COVER_RATE: "5", SKYTALE_COVER_CELL: "7" })).toEqual({ mode: "off", rate: 0 });
  });

  it("explains bad cover settings", () => {
    expect(() => coverFromEnv({ SKYTALE_COVER: "loud" })).toThrow(/SKYTALE_COVER must be one of off, poisson, constant/);
    for (const rate of ["0", "-1", "fast", "1e3", "1001", "Infinity"]) {
      expect(() => coverFromEnv({ SKYTALE_COVER_RATE: rate })).toThrow(expect.objectContaining({ code: "bad_config" }));
    }
    for (const cell of ["1000", "0", "65536", "1024.0", "big"]) {
      expect(() => coverFromEnv({ SKYTALE_COVER_CELL: cell })).toThrow(/SKYTALE_COVER_CELL must be one of the frame sizes 256, 512/);
    }
  });

  it("reads a pinned relay key and the token", () => {
    const key = generateStaticKeyPair().publicKey;
    expect(relayKeyFromEnv({ SKYTALE_RELAY_KEY: Buffer.from(key).toString("base64url") })).toEqual(key);
    expect(relayKeyFromEnv({})).toBeUndefined();
    expect(tokenFromEnv({ SKYTALE_TOKEN: " t0k " })).toBe("t0k");
    expect(tokenFromEnv({})).toBe("");
  });

  it("refuses a malformed relay key without echoing it", () => {
    for (const bad of ["abc", "!".repeat(43), Buffer.alloc(31).toString("base64url"), Buffer.alloc(33).toString("base64url")]) {
      let message = "";
      try {
        parseRelayKey(bad, "SKYTALE_RELAY_KEY");
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toContain("SKYTALE_RELAY_KEY must be a 32-byte");
      expect(message).not.toContain(bad);
    }
  });
});
