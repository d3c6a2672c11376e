import { describe, expect, test } from "vitest";
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  defaultCapabilities,
  defaultCryptoProvider,
  defaultLifetime,
  emptyPskIndex,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  processPrivateMessage,
  type CiphersuiteImpl,
  type CiphersuiteName,
  type ClientState,
  type CryptoProvider,
} from "ts-mls";
import { nodeCryptoProvider } from "../../src/mls/crypto/nodeProvider.js";

const SUITE_1: CiphersuiteName = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";
const SUITE_3: CiphersuiteName = "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519";

const text = (s: string) => new TextEncoder().encode(s);

function member(name: string, cs: CiphersuiteImpl) {
  return generateKeyPackage(
    { credentialType: "basic", identity: text(name) },
    defaultCapabilities(),
    defaultLifetime,
    [],
    cs,
  );
}

/** Sends `message` from one member to the other and returns both updated states. */
async function send(
  from: ClientState,
  fromCs: CiphersuiteImpl,
  to: ClientState,
  toCs: CiphersuiteImpl,
  message: string,
): Promise<[ClientState, ClientState]> {
  const sent = await createApplicationMessage(from, text(message), fromCs);
  const received = await processPrivateMessage(to, sent.privateMessage, emptyPskIndex, toCs);
  if (received.kind !== "applicationMessage") throw new Error(`expected application data, got ${received.kind}`);
  expect(new TextDecoder().decode(received.message)).toBe(message);
  return [sent.newState, received.newState];
}

/** Alice creates a group, adds Bob by commit + Welcome, and they talk both ways. */
async function twoMemberGroup(name: CiphersuiteName, aliceProvider: CryptoProvider, bobProvider: CryptoProvider) {
  const suite = getCiphersuiteFromName(name);
  const aliceCs = await getCiphersuiteImpl(suite, aliceProvider);
  const bobCs = await getCiphersuiteImpl(suite, bobProvider);
  const alice = await member("alice", aliceCs);
  const bob = await member("bob", bobCs);

  let aliceState = await createGroup(text("smoke"), alice.publicPackage, alice.privatePackage, [], aliceCs);
  const commit = await createCommit(
    { state: aliceState, cipherSuite: aliceCs },
    { extraProposals: [{ proposalType: "add", add: { keyPackage: bob.publicPackage } }] },
  );
  aliceState = commit.newState;
  if (commit.welcome === undefined) throw new Error("adding a member produced no Welcome");
  let bobState = await joinGroup(
    commit.welcome,
    bob.publicPackage,
    bob.privatePackage,
    emptyPskIndex,
    bobCs,
    aliceState.ratchetTree,
  );
  expect(bobState.keySchedule.epochAuthenticator).toStrictEqual(aliceState.keySchedule.epochAuthenticator);

  for (let i = 0; i < 3; i++) {
    [aliceState, bobState] = await send(aliceState, aliceCs, bobState, bobCs, `hello bob ${i}`);
    [bobState, aliceState] = await send(bobState, bobCs, aliceState, aliceCs, `hello alice ${i}`);
  }
}

describe("ts-mls end to end on nodeCryptoProvider", () => {
  test.each([SUITE_1, SUITE_3])("%s: create, add by Welcome, messages both ways", async (name) => {
    await twoMemberGroup(name, nodeCryptoProvider, nodeCryptoProvider);
  });

  // Mixed groups prove the wire format is the same: ts-mls's default provider on the other side.
  test("suite 1: node-provider Alice with default-provider Bob", async () => {
    await twoMemberGroup(SUITE_1, nodeCryptoProvider, defaultCryptoProvider);
    await twoMemberGroup(SUITE_1, defaultCryptoProvider, nodeCryptoProvider);
  });
});
