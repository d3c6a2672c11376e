import { describe, expect, test } from "vitest";
import { defaultKeyRetentionConfig } from "ts-mls/keyRetentionConfig.js";
import { createSecretTree, ratchetToGeneration } from "ts-mls/secretTree.js";
import { expandSenderDataKey, expandSenderDataNonce, type ReuseGuard } from "ts-mls/sender.js";
import { cases, hex, loadVectors, nodeImpl } from "./vectors.js";

interface SecretTreeVector {
  cipher_suite: number;
  encryption_secret: string;
  sender_data: { sender_data_secret: string; ciphertext: string; key: string; nonce: string };
  leaves: {
    generation: number;
    application_key: string;
    application_nonce: string;
    handshake_key: string;
    handshake_nonce: string;
  }[][];
}

describe("secret-tree vectors (node provider)", () => {
  test.each(cases(loadVectors<SecretTreeVector>("secret-tree")))("%s", async (_, v) => {
    const cs = await nodeImpl(v.cipher_suite);
    const sd = v.sender_data;
    expect(await expandSenderDataKey(cs, hex(sd.sender_data_secret), hex(sd.ciphertext))).toStrictEqual(hex(sd.key));
    expect(await expandSenderDataNonce(cs, hex(sd.sender_data_secret), hex(sd.ciphertext))).toStrictEqual(
      hex(sd.nonce),
    );

    let tree = await createSecretTree(v.leaves.length, hex(v.encryption_secret), cs.kdf);
    for (const [leafIndex, generations] of v.leaves.entries()) {
      for (const g of generations) {
        const senderData = { leafIndex, generation: g.generation, reuseGuard: new Uint8Array(4) as ReuseGuard };
        const app = await ratchetToGeneration(tree, senderData, "application", defaultKeyRetentionConfig, cs);
        expect(app.key).toStrictEqual(hex(g.application_key));
        expect(app.nonce).toStrictEqual(hex(g.application_nonce));
        const hs = await ratchetToGeneration(app.newTree, senderData, "commit", defaultKeyRetentionConfig, cs);
        expect(hs.key).toStrictEqual(hex(g.handshake_key));
        expect(hs.nonce).toStrictEqual(hex(g.handshake_nonce));
        tree = hs.newTree;
      }
    }
  });
});
