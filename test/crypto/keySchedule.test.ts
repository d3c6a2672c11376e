import { describe, expect, test } from "vitest";
import { encodeGroupContext, type GroupContext } from "ts-mls/groupContext.js";
import { initializeEpoch, mlsExporter } from "ts-mls/keySchedule.js";
import { cases, hex, loadVectors, nodeImpl, suiteName } from "./vectors.js";

interface Epoch {
  tree_hash: string;
  commit_secret: string;
  psk_secret: string;
  confirmed_transcript_hash: string;
  group_context: string;
  joiner_secret: string;
  welcome_secret: string;
  init_secret: string;
  sender_data_secret: string;
  encryption_secret: string;
  exporter_secret: string;
  epoch_authenticator: string;
  external_secret: string;
  confirmation_key: string;
  membership_key: string;
  resumption_psk: string;
  external_pub: string;
  exporter: { label: string; context: string; length: number; secret: string };
}

interface KeyScheduleVector {
  cipher_suite: number;
  group_id: string;
  initial_init_secret: string;
  epochs: Epoch[];
}

describe("key-schedule vectors (node provider)", () => {
  test.each(cases(loadVectors<KeyScheduleVector>("key-schedule")))("%s", async (_, v) => {
    const cs = await nodeImpl(v.cipher_suite);
    let initSecret = hex(v.initial_init_secret);
    for (const [index, e] of v.epochs.entries()) {
      const gc: GroupContext = {
        version: "mls10",
        cipherSuite: suiteName(v.cipher_suite),
        groupId: hex(v.group_id),
        epoch: BigInt(index),
        treeHash: hex(e.tree_hash),
        confirmedTranscriptHash: hex(e.confirmed_transcript_hash),
        extensions: [],
      };
      expect(encodeGroupContext(gc)).toStrictEqual(hex(e.group_context));

      const epoch = await initializeEpoch(initSecret, hex(e.commit_secret), gc, hex(e.psk_secret), cs.kdf);
      const ks = epoch.keySchedule;
      expect(epoch.joinerSecret).toStrictEqual(hex(e.joiner_secret));
      expect(epoch.welcomeSecret).toStrictEqual(hex(e.welcome_secret));
      expect(epoch.encryptionSecret).toStrictEqual(hex(e.encryption_secret));
      expect(ks.initSecret).toStrictEqual(hex(e.init_secret));
      expect(ks.senderDataSecret).toStrictEqual(hex(e.sender_data_secret));
      expect(ks.exporterSecret).toStrictEqual(hex(e.exporter_secret));
      expect(ks.epochAuthenticator).toStrictEqual(hex(e.epoch_authenticator));
      expect(ks.externalSecret).toStrictEqual(hex(e.external_secret));
      expect(ks.confirmationKey).toStrictEqual(hex(e.confirmation_key));
      expect(ks.membershipKey).toStrictEqual(hex(e.membership_key));
      expect(ks.resumptionPsk).toStrictEqual(hex(e.resumption_psk));

      // external_pub = KEM.DeriveKeyPair(external_secret).public
      const { publicKey } = await cs.hpke.deriveKeyPair(hex(e.external_secret));
      expect(await cs.hpke.exportPublicKey(publicKey)).toStrictEqual(hex(e.external_pub));

      const x = e.exporter;
      expect(await mlsExporter(ks.exporterSecret, x.label, hex(x.context), x.length, cs)).toStrictEqual(hex(x.secret));

      initSecret = ks.initSecret;
    }
  });
});
