import { describe, expect, test } from "vitest";
import {
  decodeMlsMessage,
  joinGroup,
  makePskIndex,
  processPrivateMessage,
  processPublicMessage,
  type CiphersuiteImpl,
  type ClientState,
  type KeyPackage,
} from "ts-mls";
import { decodeRatchetTree } from "ts-mls/ratchetTree.js";
import { cases, hex, hpkeKeysMatch, loadVectors, nodeImpl, signatureKeysMatch, type PassiveClientVector } from "./vectors.js";


async function checkKeys(v: PassiveClientVector, kp: KeyPackage, cs: CiphersuiteImpl): Promise<void> {
  expect(await hpkeKeysMatch(kp.leafNode.hpkePublicKey, hex(v.encryption_priv), cs.hpke)).toBe(true);
  expect(await hpkeKeysMatch(kp.initKey, hex(v.init_priv), cs.hpke)).toBe(true);
  expect(await signatureKeysMatch(kp.leafNode.signaturePublicKey, hex(v.signature_priv), cs.signature)).toBe(true);
}

/** Joins by the vector's Welcome, then processes every proposal and commit, checking each epoch_authenticator. */
async function runPassiveClient(v: PassiveClientVector): Promise<void> {
  const cs = await nodeImpl(v.cipher_suite);
  const kp = decodeMlsMessage(hex(v.key_package), 0)?.[0];
  const welcome = decodeMlsMessage(hex(v.welcome), 0)?.[0];
  if (kp?.wireformat !== "mls_key_package" || welcome?.wireformat !== "mls_welcome") throw new Error("bad vector");
  await checkKeys(v, kp.keyPackage, cs);

  // ts-mls looks external PSKs up by the base64 of their id.
  const psks = Object.fromEntries(
    v.external_psks.map((p) => [Buffer.from(p.psk_id, "hex").toString("base64"), hex(p.psk)]),
  );
  const tree = v.ratchet_tree === null ? undefined : decodeRatchetTree(hex(v.ratchet_tree), 0)?.[0];
  const privateKeys = {
    initPrivateKey: hex(v.init_priv),
    hpkePrivateKey: hex(v.encryption_priv),
    signaturePrivateKey: hex(v.signature_priv),
  };
  const pskIndex = makePskIndex(undefined, psks);
  let state: ClientState = await joinGroup(welcome.welcome, kp.keyPackage, privateKeys, pskIndex, cs, tree);
  expect(state.keySchedule.epochAuthenticator).toStrictEqual(hex(v.initial_epoch_authenticator));

  const apply = async (bytes: string): Promise<void> => {
    const m = decodeMlsMessage(hex(bytes), 0)?.[0];
    if (m?.wireformat === "mls_private_message") {
      state = (await processPrivateMessage(state, m.privateMessage, makePskIndex(state, psks), cs)).newState;
    } else if (m?.wireformat === "mls_public_message") {
      state = (await processPublicMessage(state, m.publicMessage, makePskIndex(state, psks), cs)).newState;
    } else {
      throw new Error("handshake message is neither Private- nor PublicMessage");
    }
  };

  for (const [i, epoch] of v.epochs.entries()) {
    for (const proposal of epoch.proposals) await apply(proposal);
    await apply(epoch.commit);
    expect(state.keySchedule.epochAuthenticator, `epoch ${i + 1}`).toStrictEqual(hex(epoch.epoch_authenticator));
  }
}

describe("passive client vectors (node provider)", () => {
  test.each(cases(loadVectors<PassiveClientVector>("passive-client-welcome")))("welcome %s", async (_, v) => {
    await runPassiveClient(v);
  });

  test.each(cases(loadVectors<PassiveClientVector>("passive-client-handling-commit")))(
    "handling-commit %s",
    async (_, v) => {
      await runPassiveClient(v);
    },
  );

  // The upstream file has 200 epochs (1.9 MB); test/vectors keeps the first 80 of them (epochs 1-80).
  test.each(cases(loadVectors<PassiveClientVector>("passive-client-random")))("random %s", async (_, v) => {
    expect(v.epochs.length).toBeGreaterThan(0);
    await runPassiveClient(v);
  });
});
