import { describe, expect, test } from "vitest";
import { decodeAuthenticatedContent } from "ts-mls/authenticatedContent.js";
import { createConfirmedHash, createInterimHash } from "ts-mls/transcriptHash.js";
import { cases, hex, loadVectors, nodeImpl } from "./vectors.js";

interface TranscriptHashVector {
  cipher_suite: number;
  confirmation_key: string;
  authenticated_content: string;
  interim_transcript_hash_before: string;
  confirmed_transcript_hash_after: string;
  interim_transcript_hash_after: string;
}

describe("transcript-hashes vectors (node provider)", () => {
  test.each(cases(loadVectors<TranscriptHashVector>("transcript-hashes")))("%s", async (_, v) => {
    const cs = await nodeImpl(v.cipher_suite);
    const decoded = decodeAuthenticatedContent(hex(v.authenticated_content), 0);
    if (decoded === undefined) throw new Error("authenticated_content does not decode");
    const [ac] = decoded;
    if (ac.content.contentType !== "commit" || ac.auth.contentType !== "commit") throw new Error("not a commit");
    const tag = ac.auth.confirmationTag;

    // confirmation_tag == MAC(confirmation_key, confirmed_transcript_hash_after)
    expect(await cs.hash.verifyMac(hex(v.confirmation_key), tag, hex(v.confirmed_transcript_hash_after))).toBe(true);
    const input = { wireformat: ac.wireformat, content: ac.content, signature: ac.auth.signature };
    expect(await createConfirmedHash(hex(v.interim_transcript_hash_before), input, cs.hash)).toStrictEqual(
      hex(v.confirmed_transcript_hash_after),
    );
    expect(await createInterimHash(hex(v.confirmed_transcript_hash_after), tag, cs.hash)).toStrictEqual(
      hex(v.interim_transcript_hash_after),
    );
  });
});
