import { describe, expect, test } from "vitest";
import { refhash } from "ts-mls/crypto/hash.js";
import { decryptWithLabel, encryptWithLabel } from "ts-mls/crypto/hpke.js";
import { deriveSecret, deriveTreeSecret, expandWithLabel } from "ts-mls/crypto/kdf.js";
import { signWithLabel, verifyWithLabel } from "ts-mls/crypto/signature.js";
import { cases, hex, loadVectors, nodeImpl } from "./vectors.js";

interface CryptoBasics {
  cipher_suite: number;
  ref_hash: { label: string; value: string; out: string };
  expand_with_label: { secret: string; label: string; context: string; length: number; out: string };
  derive_secret: { secret: string; label: string; out: string };
  derive_tree_secret: { secret: string; label: string; generation: number; length: number; out: string };
  sign_with_label: { priv: string; pub: string; content: string; label: string; signature: string };
  encrypt_with_label: {
    priv: string;
    pub: string;
    label: string;
    context: string;
    plaintext: string;
    kem_output: string;
    ciphertext: string;
  };
}

describe("crypto-basics vectors (node provider)", () => {
  test.each(cases(loadVectors<CryptoBasics>("crypto-basics")))("%s", async (_, v) => {
    const cs = await nodeImpl(v.cipher_suite);

    expect(await refhash(v.ref_hash.label, hex(v.ref_hash.value), cs.hash)).toStrictEqual(hex(v.ref_hash.out));

    const e = v.expand_with_label;
    expect(await expandWithLabel(hex(e.secret), e.label, hex(e.context), e.length, cs.kdf)).toStrictEqual(hex(e.out));

    expect(await deriveSecret(hex(v.derive_secret.secret), v.derive_secret.label, cs.kdf)).toStrictEqual(
      hex(v.derive_secret.out),
    );

    const t = v.derive_tree_secret;
    expect(await deriveTreeSecret(hex(t.secret), t.label, t.generation, t.length, cs.kdf)).toStrictEqual(hex(t.out));

    const s = v.sign_with_label;
    expect(await verifyWithLabel(hex(s.pub), s.label, hex(s.content), hex(s.signature), cs.signature)).toBe(true);
    const ours = await signWithLabel(hex(s.priv), s.label, hex(s.content), cs.signature);
    // Ed25519 is deterministic: our signature must be byte-identical to the vector's.
    expect(ours).toStrictEqual(hex(s.signature));

    const h = v.encrypt_with_label;
    const priv = await cs.hpke.importPrivateKey(hex(h.priv));
    const opened = await decryptWithLabel(priv, h.label, hex(h.context), hex(h.kem_output), hex(h.ciphertext), cs.hpke);
    expect(opened).toStrictEqual(hex(h.plaintext));
    const pub = await cs.hpke.importPublicKey(hex(h.pub));
    const { ct, enc } = await encryptWithLabel(pub, h.label, hex(h.context), hex(h.plaintext), cs.hpke);
    expect(await decryptWithLabel(priv, h.label, hex(h.context), enc, ct, cs.hpke)).toStrictEqual(hex(h.plaintext));
  });
});
