import { describe, expect, test } from "vitest";
import { decodeMlsMessage } from "ts-mls";
import { verifyGroupInfoConfirmationTag, verifyGroupInfoSignature } from "ts-mls/groupInfo.js";
import { makeKeyPackageRef } from "ts-mls/keyPackage.js";
import { decryptGroupInfo, decryptGroupSecrets } from "ts-mls/welcome.js";
import { cases, hex, loadVectors, nodeImpl } from "./vectors.js";

interface WelcomeVector {
  cipher_suite: number;
  init_priv: string;
  signer_pub: string;
  key_package: string;
  welcome: string;
}

describe("welcome vectors (node provider)", () => {
  test.each(cases(loadVectors<WelcomeVector>("welcome")))("%s", async (_, v) => {
    const cs = await nodeImpl(v.cipher_suite);
    const w = decodeMlsMessage(hex(v.welcome), 0)?.[0];
    const kp = decodeMlsMessage(hex(v.key_package), 0)?.[0];
    if (w?.wireformat !== "mls_welcome" || kp?.wireformat !== "mls_key_package") throw new Error("bad vector");

    const ref = await makeKeyPackageRef(kp.keyPackage, cs.hash);
    const initKey = await cs.hpke.importPrivateKey(hex(v.init_priv));
    const secrets = await decryptGroupSecrets(initKey, ref, w.welcome, cs.hpke);
    if (secrets === undefined) throw new Error("no group secrets for our key package");

    const pskSecret = new Uint8Array(cs.kdf.size);
    const gi = await decryptGroupInfo(w.welcome, secrets.joinerSecret, pskSecret, cs);
    if (gi === undefined) throw new Error("group info does not decrypt");
    expect(await verifyGroupInfoConfirmationTag(gi, secrets.joinerSecret, pskSecret, cs)).toBe(true);
    expect(await verifyGroupInfoSignature(gi, hex(v.signer_pub), cs.signature)).toBe(true);
  });
});
