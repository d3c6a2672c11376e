import { statSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { RelayClient } from "../../src/transport/relayClient.js";
import { RELAY_KEY_PIN_FILE, RelayKeyPins } from "../../src/transport/relayKeyPin.js";
import { DEFAULT_COVER } from "../../src/wire/cover.js";
import { generateStaticKeyPair } from "../../src/wire/x25519.js";
import { FakeRelay } from "./fakeRelay.js";
import { tempDir } from "./helpers.js";
import { testIdentity } from "../identity.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tofuClient(relay: FakeRelay, pinFile: string): RelayClient {
  const client = new RelayClient({ url: relay.url, agent: "alice", identity: testIdentity("alice"), pinFile, cover: DEFAULT_COVER.off, backoff: { baseMs: 10, capMs: 20 } });
  cleanups.push(() => client.close());
  return client;
}

describe("trust on first use", () => {
  it("records the relay key on first use (0600) and then uses only the record", async () => {
    const relay = await FakeRelay.start();
    cleanups.push(() => relay.close());
    const pinFile = join(tempDir(), RELAY_KEY_PIN_FILE);
    await tofuClient(relay, pinFile).connect();
    expect(relay.keyFetches).toBe(1);
    expect(statSync(pinFile).mode & 0o777).toBe(0o600);
    expect(new RelayKeyPins(pinFile).get(relay.url)).toEqual(relay.key.publicKey);
    expect(readFileSync(pinFile, "utf8")).not.toContain(Buffer.from(relay.key.privateKey).toString("base64url"));

    await tofuClient(relay, pinFile).connect();
    expect(relay.keyFetches).toBe(1);
  });

  it("a relay that no longer holds the recorded key is a loud, final error, and the record stays", async () => {
    const relay = await FakeRelay.start();
    cleanups.push(() => relay.close());
    const pinFile = join(tempDir(), RELAY_KEY_PIN_FILE);
    const recorded = generateStaticKeyPair().publicKey;
    new RelayKeyPins(pinFile).record(relay.url, recorded);
    const before = readFileSync(pinFile, "utf8");

    const client = tofuClient(relay, pinFile);
    const errors: string[] = [];
    client.on("error", (e) => errors.push(e.code));
    const failure = await client.connect().catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: "relay_key_mismatch" });
    expect((failure as Error).message).toContain("THE RELAY KEY CHANGED");
    expect((failure as Error).message).toContain(pinFile);
    expect(errors).toEqual(["relay_key_mismatch"]);
    expect(relay.keyFetches).toBe(0);
    expect(readFileSync(pinFile, "utf8")).toBe(before);
    expect(relay.connections).toBe(1);
  });

  it("keeps one key per relay URL and refuses to overwrite one", () => {
    const pins = new RelayKeyPins(join(tempDir(), "nested", RELAY_KEY_PIN_FILE));
    const a = generateStaticKeyPair().publicKey;
    const b = generateStaticKeyPair().publicKey;
    pins.record("ws://a:1", a);
    pins.record("ws://b:1", b);
    pins.record("ws://a:1", a);
    expect(pins.get("ws://a:1")).toEqual(a);
    expect(pins.get("ws://b:1")).toEqual(b);
    expect(pins.get("ws://c:1")).toBeUndefined();
    expect(() => pins.record("ws://a:1", b)).toThrow(expect.objectContaining({ code: "relay_key_mismatch" }));
  });

  it("a corrupt record is a configuration error, not a new first use", async () => {
    const relay = await FakeRelay.start();
    cleanups.push(() => relay.close());
    const pinFile = join(tempDir(), RELAY_KEY_PIN_FILE);
    writeFileSync(pinFile, "{ not json");
    await expect(tofuClient(relay, pinFile).connect()).rejects.toMatchObject({ code: "bad_config" });
    expect(relay.keyFetches).toBe(0);
  });
});
