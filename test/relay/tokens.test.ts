// Issue 13, point 7: weak secrets, secrets on the command line, tokens that live 30 days and
// cannot be revoked. The secret must be strong, can come from a file, and a token can be revoked
// by id or by name while its link is open.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { revokeCommand, tokenCommand } from "../../src/commands/tokens.js";
import { didKeyOf } from "../../src/mls/didKey.js";
import { secretWeakness } from "../../src/relay/authSecret.js";
import { ConfigError, parseRelayConfig } from "../../src/relay/config.js";
import { Relay } from "../../src/relay/relayServer.js";
import { DEFAULT_TOKEN_TTL_SECONDS, tokenClaims } from "../../src/relay/token.js";
import { eventually, tempDir, TEST_SECRET } from "../helpers.js";
import { testKeyOf } from "../identity.js";
import { link, startRelay } from "./relayFixture.js";

const refusal = (e: { answer: unknown }) => e.answer;
const mint = (sub: string, now?: number) => tokenCommand(["--sub", sub, "--key", didKeyOf(testKeyOf(sub))], { SKYTALE_RELAY_SECRET: TEST_SECRET }, now).token;

describe("relay secrets", () => {
  it("refuses weak secrets, saying what is needed, in the relay's flags, its library start and the token command", async () => {
    for (const weak of ["x", "password", "a".repeat(64), "1212121212121212121212121212121212121212", "abcdefghabcdefghabcdefghabcdefgh"]) {
      expect(secretWeakness(weak), weak).toBeDefined();
      expect(() => parseRelayConfig(["--auth-secret", weak], {})).toThrow(/too weak.*openssl rand -hex 32/);
    }
    expect(() => parseRelayConfig([], { SKYTALE_RELAY_SECRET: "short" })).toThrow(ConfigError);
    await expect(startRelay({ authSecret: "x" })).rejects.toThrow(/too weak/);
    expect(() => tokenCommand(["--sub", "alice", "--key", didKeyOf(testKeyOf("alice"))], { SKYTALE_RELAY_SECRET: "x" })).toThrow(/too weak/);
    // What `openssl rand -hex 32` and `openssl rand -base64 32` print pass.
    expect(secretWeakness(TEST_SECRET)).toBeUndefined();
    expect(secretWeakness("q8Jx0c4N2vZ7Lr1mT5bYw3HkP9sGd6Ea0fUiO2nCx7M=")).toBeUndefined();
  });

  it("reads the secret from a file, so it stays out of argv; an empty or missing file, or both forms at once, is refused", () => {
    const dir = tempDir();
    const file = join(dir, "secret");
    writeFileSync(file, `${TEST_SECRET}\n`, { mode: 0o600 });
    expect(parseRelayConfig(["--auth-secret-file", file], {}).authSecret).toBe(TEST_SECRET);
    writeFileSync(join(dir, "empty"), "\n");
    expect(() => parseRelayConfig(["--auth-secret-file", join(dir, "empty")], {})).toThrow(/empty/);
    expect(() => parseRelayConfig(["--auth-secret-file", join(dir, "missing")], {})).toThrow(/ENOENT/);
    expect(() => parseRelayConfig(["--auth-secret-file", file, "--auth-secret", TEST_SECRET], {})).toThrow(/not both/);
    const minted = tokenCommand(["--secret-file", file, "--sub", "alice", "--key", didKeyOf(testKeyOf("alice"))], {});
    expect(minted.warning).toBeUndefined();
    expect(tokenCommand(["--secret", TEST_SECRET, "--sub", "alice", "--key", didKeyOf(testKeyOf("alice"))], {}).warning).toMatch(/ps/);
  });

  it("tokens live a week unless told otherwise, and carry an id to revoke them by", () => {
    const now = 1_800_000_000;
    const minted = tokenCommand(["--sub", "alice", "--key", didKeyOf(testKeyOf("alice"))], { SKYTALE_RELAY_SECRET: TEST_SECRET }, now);
    const claims = tokenClaims(minted.token);
    expect(claims).toMatchObject({ sub: "alice", iat: now, exp: now + DEFAULT_TOKEN_TTL_SECONDS });
    expect(DEFAULT_TOKEN_TTL_SECONDS).toBe(7 * 24 * 3600);
    expect(claims?.id).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(minted.note).toContain(`revoke --id ${claims?.id}`);
    expect(tokenClaims(mint("alice"))?.id).not.toBe(claims?.id);
  });
});

describe("token revocation", () => {
  it("revoking a token by id drops its open link at once and refuses it after; the agent's other tokens still work", async () => {
    const file = join(tempDir(), "revoked");
    const relay = await startRelay({ authSecret: TEST_SECRET, revocationsFile: file });
    const stolen = mint("alice");
    const kept = mint("alice");
    const open = await link(relay, "alice", { token: stolen });
    const other = await link(relay, "alice", { token: kept });
    revokeCommand(["--id", tokenClaims(stolen)?.id ?? "", "--revocations", file], {});
    expect((await open.waitClosed()).reason).toBe("token revoked");
    await expect(link(relay, "alice", { token: stolen }).catch(refusal)).resolves.toMatchObject({ type: "Error", code: "auth_failed", message: expect.stringMatching(/revoked/) });
    expect(await other.request({ type: "Ping", id: 0n })).toMatchObject({ type: "Pong" });
    expect(await (await link(relay, "alice", { token: kept })).request({ type: "Ping", id: 0n })).toMatchObject({ type: "Pong" });
  });

  it("revoking a name revokes every token it was given before, not the one minted after", async () => {
    const file = join(tempDir(), "revoked");
    const relay = await startRelay({ authSecret: TEST_SECRET, revocationsFile: file });
    const now = Math.floor(Date.now() / 1000);
    const old = mint("bob", now - 60);
    const open = await link(relay, "bob", { token: old });
    const carol = await link(relay, "carol", { token: mint("carol") });
    revokeCommand(["--sub", "bob"], { SKYTALE_RELAY_REVOCATIONS: file }, now);
    await open.waitClosed();
    await expect(link(relay, "bob", { token: old }).catch(refusal)).resolves.toMatchObject({ code: "auth_failed" });
    expect(await (await link(relay, "bob", { token: mint("bob", now + 1) })).request({ type: "Ping", id: 0n })).toMatchObject({ type: "Pong" });
    expect(await carol.request({ type: "Ping", id: 0n })).toMatchObject({ type: "Pong" });
  });

  it("a relay started on a revocation file refuses what it lists; a malformed edit keeps the list in force and is reported", async () => {
    const dir = tempDir();
    const file = join(dir, "revoked");
    const token = mint("alice");
    writeFileSync(file, `# revoked for the test\nid ${tokenClaims(token)?.id}\n`);
    const lines: string[] = [];
    const relay = await Relay.start(parseRelayConfig(["--port", "0", "--data-dir", dir, "--cover", "off", "--revocations", file], { SKYTALE_RELAY_SECRET: TEST_SECRET }), {
      log: (line) => lines.push(line),
    });
    try {
      const refused = await link(relay, "alice", { token }).catch(refusal);
      expect(refused).toMatchObject({ code: "auth_failed", message: expect.stringMatching(/revoked/) });
      writeFileSync(file, `${readFileSync(file, "utf8")}this is not a revocation\n`);
      await eventually(() => /line 3 .*previous list stays in force/.test(lines.join("\n")));
      await expect(link(relay, "alice", { token }).catch(refusal)).resolves.toMatchObject({ code: "auth_failed" });
    } finally {
      await relay.close();
    }
  });

  it("revocations need a relay that takes tokens, and the command checks what it writes", () => {
    expect(() => parseRelayConfig(["--revocations", "/tmp/x"], {})).toThrow(/--auth-secret-file/);
    expect(() => revokeCommand(["--id", "x y", "--revocations", "/tmp/x"], {})).toThrow(/not a token id/);
    expect(() => revokeCommand(["--id", "abc"], {})).toThrow(/usage/);
    expect(() => revokeCommand(["--id", "abc", "--sub", "bob", "--revocations", "/tmp/x"], {})).toThrow(/usage/);
  });
});

describe("the metrics port", () => {
  it("is loopback unless a strong bearer secret guards it, and a scraper without the secret gets nothing", async () => {
    expect(parseRelayConfig([], {}).metrics).toBeUndefined();
    expect(parseRelayConfig(["--metrics-port", "0"], {}).metrics).toEqual({ host: "127.0.0.1", port: 0, secret: undefined });
    expect(() => parseRelayConfig(["--metrics-port", "0", "--metrics-host", "0.0.0.0"], {})).toThrow(/without --metrics-secret-file/);
    expect(() => parseRelayConfig(["--metrics-port", "0", "--metrics-host", "0.0.0.0"], { SKYTALE_RELAY_METRICS_SECRET: "x" })).toThrow(/too weak/);
    expect(() => parseRelayConfig(["--metrics-host", "127.0.0.1"], {})).toThrow(/go with --metrics-port/);
    const relay = await startRelay({ metrics: { host: "127.0.0.1", port: 0, secret: TEST_SECRET } });
    const url = `http://127.0.0.1:${relay.metricsPort}/metrics`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    const scraped = await fetch(url, { headers: { authorization: `Bearer ${TEST_SECRET}` } });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toMatch(/^skytale_relay_connections 0$/m);
  });
});
