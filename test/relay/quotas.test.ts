// Quotas per authenticated identity (issue 13, point 4): what one identity may have a relay node
// store or take, whatever number of links it uses. The two disk abuses of the issue, scaled down
// with small quotas: one Welcome naming many recipients (stored once per recipient), and one
// identity opening channel after channel and filling them.
import { expect, it } from "vitest";
import { ConfigError, DEFAULT_LIMITS, parseRelayConfig } from "../../src/relay/config.js";
import { describeRefusal, Quotas, type QuotaLimits } from "../../src/relay/quotas.js";
import type { Envelope } from "../../src/wire/envelope.js";
import { testChannel, testIdentity, testKeyOf } from "../identity.js";
import { mlsMessage } from "../transport/helpers.js";
import { eachStore, link, openedChannel, startRelay } from "./relayFixture.js";

const KiB = 1024;

function quotas(q: Partial<QuotaLimits>) {
  return { limits: { ...DEFAULT_LIMITS, quotas: { ...DEFAULT_LIMITS.quotas, ...q } } };
}

eachStore("relay: quotas per identity", (store) => {
  it("a Welcome costs its bytes once per recipient: one naming many recipients is refused, and the archive quota holds across links", async () => {
    const relay = await startRelay(quotas({ archiveBytes: 4 * 1024 * KiB, welcomeRecipients: 100 }), store);
    const [first, second] = [await link(relay, "mallory"), await link(relay, "mallory")];
    const channel = await openedChannel(first);
    const large = new Uint8Array(64 * KiB).fill(7);
    const named = (n: number) => Array.from({ length: n }, (_, i) => testKeyOf(`victim-${i}`));
    const commit = (l: typeof first, epoch: bigint, recipients: Uint8Array[], welcome = large) => {
      const body = mlsMessage(channel.channel, epoch, 3, 64, Number(epoch));
      return l.request({ type: "GroupCommit", id: 0n, commit: body, welcome: { recipients, welcome }, proof: channel.proof(body, epoch) });
    };
    // 255 recipients of 64 KiB: 16 MiB on disk from one request. Before quotas, it was stored.
    const amplified = await commit(first, 0n, named(255));
    expect(amplified).toMatchObject({ type: "Error", code: "quota_exceeded", message: expect.stringMatching(/^quota archive_bytes exceeded: .*; this request alone is over it$/) });
    const many = await commit(first, 0n, named(101), new Uint8Array(100));
    expect(many).toMatchObject({ type: "Error", code: "quota_exceeded", message: expect.stringMatching(/^quota welcome_recipients exceeded: at most 100 per 3600 s/) });
    // 40 recipients: 2.5 MiB, within the quota; 40 more from another link of the same identity pass it.
    expect(await commit(first, 0n, named(40))).toMatchObject({ type: "GroupAck", seq: 1n });
    const refused = await commit(second, 1n, named(40));
    expect(refused).toMatchObject({ type: "Error", code: "quota_exceeded", message: expect.stringMatching(/^quota archive_bytes exceeded: at most 4194304 per 3600 s for one identity on this relay node; it resets in \d+ s$/) });
    // What reached the disk: one Welcome in each of the first 40 inboxes, none in the 41st.
    for (const [name, expected] of [["victim-0", 1], ["victim-39", 1], ["victim-40", 0]] as const) {
      const reader = await link(relay, name);
      expect(await reader.request({ type: "InboxSubscribe", id: 0n, fromSeq: 1n })).toMatchObject({ type: "Ack", seq: BigInt(expected) });
    }
    expect(relay.metrics.quotas?.refused).toEqual(new Map([["archive_bytes", 2], ["welcome_recipients", 1]]));
  });

  it("one identity opening channel after channel and filling them is stopped by its channel and archive quotas, another identity is not", async () => {
    const relay = await startRelay(quotas({ channelsOpened: 5, archiveBytes: 256 * KiB }), store);
    const mallory = await link(relay, "mallory");
    const opened: Uint8Array[] = [];
    for (let i = 0; i < 8; i++) {
      const { channel, opening } = testChannel(testIdentity("mallory"), `c${i}`);
      const answer = await mallory.request({ type: "ChannelOpen", id: 0n, ...opening });
      if (answer.type === "Ack") opened.push(channel);
      else expect(answer).toMatchObject({ type: "Error", code: "quota_exceeded", message: expect.stringMatching(/^quota channels_opened exceeded: at most 5 /) });
    }
    expect(opened).toHaveLength(5);
    // 8 KiB messages spread over the channels: 32 fit the 256 KiB quota, the rest are refused.
    const bodies = Array.from({ length: 60 }, (_, i) => mlsMessage(opened[i % opened.length]!, 0n, 1, 8 * KiB - 64, i));
    const answers = await Promise.all(mallory.requestPacked(bodies.map((body): Envelope => ({ type: "Msg", id: 0n, body }))));
    const archived = answers.filter((a) => a.type === "Ack").length;
    expect(archived * 8 * KiB).toBeLessThanOrEqual(256 * KiB);
    expect(archived).toBeGreaterThanOrEqual(31);
    expect(answers.filter((a) => a.type === "Error" && a.code === "quota_exceeded")).toHaveLength(60 - archived);
    // alice's quotas are her own.
    const alice = await link(relay, "alice");
    const { channel } = await openedChannel(alice);
    expect(await alice.request({ type: "Msg", id: 0n, body: mlsMessage(channel, 0n, 1, 8 * KiB) })).toMatchObject({ type: "Ack" });
  });
});

eachStore("relay: quotas on what an identity takes from others", (store) => {
  it("key packages taken from others' directories and items sent to others' inboxes are counted per taker", async () => {
    const relay = await startRelay(quotas({ keyPackagesTaken: 3, inboxItems: 4 }), store);
    const bob = await link(relay, "bob");
    for (let i = 0; i < 5; i++) await bob.request({ type: "KeyPackagePublish", id: 0n, lastResort: false, keyPackage: new Uint8Array([i + 1]) });
    const mallory = await link(relay, "mallory");
    const take = () => mallory.request({ type: "KeyPackageFetch", id: 0n, key: testKeyOf("bob") });
    for (let i = 0; i < 3; i++) expect(await take()).toMatchObject({ type: "KeyPackageReply" });
    expect(await take()).toMatchObject({ type: "Error", code: "quota_exceeded", message: expect.stringMatching(/^quota key_packages_taken exceeded: at most 3 /) });
    // bob taking from his own directory is not counted; the package mallory could not take is still there.
    expect(await bob.request({ type: "KeyPackageFetch", id: 0n, key: testKeyOf("bob") })).toMatchObject({ type: "KeyPackageReply", keyPackage: new Uint8Array([4]) });

    const junk = (): Envelope => ({ type: "JoinRequest", id: 0n, target: { kind: "agent", key: testKeyOf("bob") }, from: new Uint8Array(0), payload: new Uint8Array(100) });
    const sent = await Promise.all(mallory.requestPacked(Array.from({ length: 6 }, junk)));
    expect(sent.map((a) => (a.type === "Error" ? a.code : a.type))).toEqual(["Ack", "Ack", "Ack", "Ack", "quota_exceeded", "quota_exceeded"]);
  });
});

it("quotas: a window per identity that resets after its period, and a bounded number of identities held", () => {
  let now = 1_000_000;
  const limits: QuotaLimits = { periodMs: 60_000, channelsOpened: 2, archiveBytes: 100, inboxItems: 1, inboxBytes: 1, welcomeRecipients: 1, keyPackagesTaken: 1 };
  const book = new Quotas(limits, () => now, 3);
  expect(book.charge("a", { channels_opened: 1, archive_bytes: 60 })).toBeUndefined();
  // All or nothing: the channel fits, the bytes do not, so neither is charged.
  const refusal = book.charge("a", { channels_opened: 1, archive_bytes: 41 });
  expect(refusal).toEqual({ quota: "archive_bytes", limit: 100, periodMs: 60_000, resetInMs: 60_000, never: false });
  expect(describeRefusal(refusal!)).toBe("quota archive_bytes exceeded: at most 100 per 60 s for one identity on this relay node; it resets in 60 s");
  expect(book.charge("a", { channels_opened: 1, archive_bytes: 40 })).toBeUndefined();
  expect(book.charge("a", { channels_opened: 1 })?.quota).toBe("channels_opened");
  expect(book.charge("b", { archive_bytes: 101 })).toMatchObject({ never: true });
  now += 30_000;
  expect(book.charge("a", { archive_bytes: 1 })).toMatchObject({ resetInMs: 30_000 });
  now += 30_000;
  expect(book.charge("a", { channels_opened: 2, archive_bytes: 100 })).toBeUndefined();
  // At most 3 identities held: ended windows go first, then the oldest.
  for (const p of ["c", "d", "e", "f"]) book.charge(p, { channels_opened: 1 });
  expect(book.tracked).toBe(3);
  expect(book.charged.get("channels_opened")).toBe(8);
});

it("quota flags: each sets its quota, the defaults hold without them, and bad values are refused", () => {
  const quotasOf = (...argv: string[]) => parseRelayConfig(argv, {}).limits.quotas;
  expect(quotasOf()).toEqual(DEFAULT_LIMITS.quotas);
  expect(DEFAULT_LIMITS.quotas).toEqual({ periodMs: 3_600_000, channelsOpened: 500, archiveBytes: 256 * 1024 * KiB, inboxItems: 1_000, inboxBytes: 64 * 1024 * KiB, welcomeRecipients: 2_000, keyPackagesTaken: 1_000 });
  const flags = ["--quota-period-s", "60", "--quota-channels", "3", "--quota-archive-mb", "2", "--quota-inbox-items", "4", "--quota-inbox-mb", "1", "--quota-welcomes", "5", "--quota-key-packages", "6"];
  expect(quotasOf(...flags)).toEqual({ periodMs: 60_000, channelsOpened: 3, archiveBytes: 2 * 1024 * KiB, inboxItems: 4, inboxBytes: 1024 * KiB, welcomeRecipients: 5, keyPackagesTaken: 6 });
  for (const bad of [["--quota-channels", "0"], ["--quota-archive-mb", "lots"], ["--quota-period-s=-5"]]) expect(() => quotasOf(...bad)).toThrow(ConfigError);
});

it("inbox flags: the Welcome reserve (250, at most a quarter of --max-inbox by default) and one sender's share (50)", () => {
  const limitsOf = (...argv: string[]) => parseRelayConfig(argv, {}).limits;
  expect(limitsOf()).toMatchObject({ maxInboxItems: 1_000, inboxWelcomeReserve: 250, maxInboxPerSender: 50 });
  expect(limitsOf("--max-inbox", "100")).toMatchObject({ inboxWelcomeReserve: 25 });
  expect(limitsOf("--inbox-reserve", "0", "--max-inbox-per-sender", "5")).toMatchObject({ inboxWelcomeReserve: 0, maxInboxPerSender: 5 });
  expect(() => limitsOf("--max-inbox", "10", "--inbox-reserve", "10")).toThrow(/below --max-inbox/);
});
