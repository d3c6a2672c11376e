import { describe, expect, test } from "vitest";
import {
  decodeMlsMessage,
  defaultPaddingConfig,
  type CiphersuiteImpl,
  type GroupContext,
  type PrivateMessage,
  type PublicMessage,
} from "ts-mls";
import { encodeCommit } from "ts-mls/commit.js";
import { defaultKeyRetentionConfig } from "ts-mls/keyRetentionConfig.js";
import { protectApplicationData, protectProposal, unprotectPrivateMessage } from "ts-mls/messageProtection.js";
import { protectProposalPublic, unprotectPublicMessage } from "ts-mls/messageProtectionPublic.js";
import { decodeProposal, encodeProposal } from "ts-mls/proposal.js";
import { createSecretTree } from "ts-mls/secretTree.js";
import { cases, hex, loadVectors, nodeImpl, suiteName } from "./vectors.js";

interface MessageProtectionVector {
  cipher_suite: number;
  group_id: string;
  epoch: number;
  tree_hash: string;
  confirmed_transcript_hash: string;
  signature_priv: string;
  signature_pub: string;
  encryption_secret: string;
  sender_data_secret: string;
  membership_key: string;
  proposal: string;
  proposal_priv: string;
  proposal_pub: string;
  commit: string;
  commit_priv: string;
  commit_pub: string;
  application: string;
  application_priv: string;
}

interface Fixture {
  v: MessageProtectionVector;
  gc: GroupContext;
  cs: CiphersuiteImpl;
}

// The vectors' sender is leaf 1 of a two-leaf group; its signature key is given, so no ratchet tree.
const SENDER = 1;
const NO_TREE: [] = [];
const NO_AAD = new Uint8Array(0);

function privateMessage(bytes: string): PrivateMessage {
  const m = decodeMlsMessage(hex(bytes), 0)?.[0];
  if (m?.wireformat !== "mls_private_message") throw new Error("not a PrivateMessage");
  return m.privateMessage;
}

function publicMessage(bytes: string): PublicMessage {
  const m = decodeMlsMessage(hex(bytes), 0)?.[0];
  if (m?.wireformat !== "mls_public_message") throw new Error("not a PublicMessage");
  return m.publicMessage;
}

async function openPrivate({ v, gc, cs }: Fixture, pm: PrivateMessage) {
  const secretTree = await createSecretTree(2, hex(v.encryption_secret), cs.kdf);
  const result = await unprotectPrivateMessage(
    hex(v.sender_data_secret),
    pm,
    secretTree,
    NO_TREE,
    gc,
    defaultKeyRetentionConfig,
    cs,
    hex(v.signature_pub),
  );
  return result.content.content;
}

async function openPublic({ v, gc, cs }: Fixture, pm: PublicMessage) {
  return (await unprotectPublicMessage(hex(v.membership_key), gc, NO_TREE, pm, cs, hex(v.signature_pub))).content;
}

function fixture(v: MessageProtectionVector, cs: CiphersuiteImpl): Fixture {
  const gc: GroupContext = {
    version: "mls10",
    cipherSuite: suiteName(v.cipher_suite),
    groupId: hex(v.group_id),
    epoch: BigInt(v.epoch),
    treeHash: hex(v.tree_hash),
    confirmedTranscriptHash: hex(v.confirmed_transcript_hash),
    extensions: [],
  };
  return { v, gc, cs };
}

describe("message-protection vectors (node provider)", () => {
  const vectors = cases(loadVectors<MessageProtectionVector>("message-protection"));

  test.each(vectors)("%s: unprotect the vector's messages", async (_, v) => {
    const f = fixture(v, await nodeImpl(v.cipher_suite));

    const pubProposal = await openPublic(f, publicMessage(v.proposal_pub));
    if (pubProposal.contentType !== "proposal") throw new Error("proposal_pub is not a proposal");
    expect(encodeProposal(pubProposal.proposal)).toStrictEqual(hex(v.proposal));

    const pubCommit = await openPublic(f, publicMessage(v.commit_pub));
    if (pubCommit.contentType !== "commit") throw new Error("commit_pub is not a commit");
    expect(encodeCommit(pubCommit.commit)).toStrictEqual(hex(v.commit));

    const privProposal = await openPrivate(f, privateMessage(v.proposal_priv));
    if (privProposal.contentType !== "proposal") throw new Error("proposal_priv is not a proposal");
    expect(encodeProposal(privProposal.proposal)).toStrictEqual(hex(v.proposal));

    const privCommit = await openPrivate(f, privateMessage(v.commit_priv));
    if (privCommit.contentType !== "commit") throw new Error("commit_priv is not a commit");
    expect(encodeCommit(privCommit.commit)).toStrictEqual(hex(v.commit));

    const privApp = await openPrivate(f, privateMessage(v.application_priv));
    if (privApp.contentType !== "application") throw new Error("application_priv is not application data");
    expect(privApp.applicationData).toStrictEqual(hex(v.application));
  });

  test.each(vectors)("%s: protect with the vector's keys, then unprotect", async (_, v) => {
    const f = fixture(v, await nodeImpl(v.cipher_suite));
    const { gc, cs } = f;
    const signKey = hex(v.signature_priv);
    const proposal = decodeProposal(hex(v.proposal), 0)?.[0];
    if (proposal === undefined) throw new Error("proposal does not decode");

    const pub = await protectProposalPublic(signKey, hex(v.membership_key), gc, NO_AAD, proposal, SENDER, cs);
    expect(await openPublic(f, pub.publicMessage)).toMatchObject({ contentType: "proposal", proposal });

    const secretTree = await createSecretTree(2, hex(v.encryption_secret), cs.kdf);
    const senderDataSecret = hex(v.sender_data_secret);
    const priv = await protectProposal(
      signKey,
      senderDataSecret,
      proposal,
      NO_AAD,
      gc,
      secretTree,
      SENDER,
      defaultPaddingConfig,
      cs,
    );
    expect(await openPrivate(f, priv.privateMessage)).toMatchObject({ contentType: "proposal", proposal });

    const app = await protectApplicationData(
      signKey,
      senderDataSecret,
      hex(v.application),
      NO_AAD,
      gc,
      secretTree,
      SENDER,
      defaultPaddingConfig,
      cs,
    );
    expect(await openPrivate(f, app.privateMessage)).toMatchObject({
      contentType: "application",
      applicationData: hex(v.application),
    });
  });
});
