import { createCommit, createGroup, type Extension } from "ts-mls";
import { describe, expect, it } from "vitest";
import { channelIdFor } from "../../src/wire/channelOpen.js";
import { CHANNEL_NAME_EXTENSION, createKeyPackage, GENESIS_EXTENSION } from "../../src/mls/keyPackages.js";
import { decodeKeyPackageMessage, encodeWelcomeMessage } from "../../src/mls/messages.js";
import { clientConfig, loadCiphersuite } from "../../src/mls/suite.js";
import { groupOf, openAgent } from "../helpers.js";

const CHANNEL = "acme/mls/genesis";

/** A Welcome for `joiner` into a group made by hand with these GroupContext extensions. */
async function welcomeWith(extensions: Extension[], groupId: Uint8Array, joiner: Awaited<ReturnType<typeof openAgent>>) {
  const cs = await loadCiphersuite();
  const maker = await openAgent("maker");
  const own = await createKeyPackage(maker.mls.identity, cs, Math.floor(Date.now() / 1000));
  const state = await createGroup(groupId, own.keyPackage, own.privateKeys, extensions, cs, clientConfig);
  const add = await createCommit({ state, cipherSuite: cs }, { extraProposals: [{ proposalType: "add", add: { keyPackage: decodeKeyPackageMessage(await joiner.mls.createKeyPackage()) } }], ratchetTreeExtension: true });
  return encodeWelcomeMessage(add.welcome!);
}

describe("a channel's genesis", () => {
  it("binds the channel's id and name to its creator: members see who made it", async () => {
    const [[alice, bob]] = await groupOf(CHANNEL, "alice", "bob");
    const [a, b] = [await alice!.mls.channelInfo(CHANNEL), await bob!.mls.channelInfo(CHANNEL)];
    expect(a.creator).toEqual({ name: "alice", key: alice!.mls.identity.signaturePublicKey });
    expect(b.creator).toEqual(a.creator);
    expect(b.name).toBe(CHANNEL);
  });

  it("a Welcome whose genesis was made by someone else, or altered, is invalid_welcome", async () => {
    const [[alice]] = await groupOf(CHANNEL, "alice");
    const genesis = (await alice!.mls.channelInfo(CHANNEL)).groupId;
    const stolen = (await import("../helpers.js")).stateOf(alice!, CHANNEL).groupContext.extensions.find((e) => e.extensionType === GENESIS_EXTENSION)!;
    const name = { extensionType: CHANNEL_NAME_EXTENSION, extensionData: new TextEncoder().encode(CHANNEL) };
    // alice's genesis copied into a group of another id: the id is not the one alice signed.
    const carol = await openAgent("carol");
    const elsewhere = await welcomeWith([name, stolen], channelIdFor(new Uint8Array(32).fill(1), new Uint8Array(16)), carol);
    await expect(carol.mls.join(elsewhere)).rejects.toMatchObject({ code: "invalid_welcome", message: expect.stringMatching(/genesis does not verify/) });
    // alice's genesis with the same id but another channel name: alice signed the name too.
    const renamed = await welcomeWith([{ ...name, extensionData: new TextEncoder().encode("acme/mls/other") }, stolen], genesis, carol);
    await expect(carol.mls.join(renamed)).rejects.toMatchObject({ code: "invalid_welcome" });
    // A flipped bit in its signature.
    const data = stolen.extensionData.slice();
    data[data.length - 1]! ^= 1;
    const flipped = await welcomeWith([name, { ...stolen, extensionData: data }], genesis, carol);
    await expect(carol.mls.join(flipped)).rejects.toMatchObject({ code: "invalid_welcome" });
    expect(carol.mls.channels()).toEqual([]);
  });

  it("a second channel of a name this agent holds joins under name#id; the same group twice is already_exists", async () => {
    const [[, bob]] = await groupOf(CHANNEL, "alice", "bob");
    const erin = await openAgent("erin");
    const info = await erin.mls.createChannel(CHANNEL);
    const add = await erin.mls.addMembers(CHANNEL, [await bob!.mls.createKeyPackage()]);
    const joined = await bob!.mls.join(add.welcome!, -1, { keepKeyPackage: true });
    expect(joined.channel).toBe(`${CHANNEL}#${Buffer.from(info.groupId).toString("hex").slice(0, 8)}`);
    expect(joined.name).toBe(CHANNEL);
    expect(joined.creator?.name).toBe("erin");
    expect(bob!.mls.channels().sort()).toEqual([CHANNEL, joined.channel].sort());
    await expect(bob!.mls.join(add.welcome!)).rejects.toMatchObject({ code: "already_exists" });
  });
});
