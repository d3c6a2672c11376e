// An application message for an epoch no member keeps keys for (it waited in a client's outbox
// while the channel moved on) is refused instead of archived, so its sender encrypts it again; a
// retry of a message archived in time still gets its first seq.
import { expect, it } from "vitest";
import type { Envelope } from "../../src/wire/envelope.js";
import { groupOf, text } from "../helpers.js";
import { eachStore, link, openAtRelay, startRelay } from "./relayFixture.js";

const CHANNEL = "acme/relay/stale";

eachStore("relay: messages too old to read", (store) => {
  it("refuses a Msg more than two epochs behind the channel, but answers a retry of one stored in time", async () => {
    const [[alice, bob], stream] = await groupOf(CHANNEL, "alice", "bob");
    const relay = await startRelay({}, store);
    const a = await link(relay, "alice");
    await openAtRelay(a, stream); // seq 1: the commit that added bob
    const b = await link(relay, "bob");
    const answer = (e: Envelope) => a.request(e).catch((error: { answer: Envelope }) => error.answer);

    const early = await alice!.mls.encrypt(CHANNEL, text("sent in time"));
    const held = await alice!.mls.encrypt(CHANNEL, text("held back")); // epoch 1
    expect(await answer({ type: "Msg", id: 0n, body: early })).toMatchObject({ type: "Ack", seq: 2n });
    let twoBehind: Uint8Array | undefined;
    for (let i = 0; i < 3; i++) {
      const update = await bob!.mls.selfUpdate(CHANNEL);
      const ack = await b.request({ type: "GroupCommit", id: 0n, commit: update.commit, welcome: undefined, proof: update.proof });
      expect(ack).toMatchObject({ type: "GroupAck" });
      await bob!.mls.confirmCommit(CHANNEL);
      if (i === 0) {
        await alice!.mls.receive(CHANNEL, update.commit, Number((ack as Extract<Envelope, { type: "GroupAck" }>).seq));
        twoBehind = await alice!.mls.encrypt(CHANNEL, text("two epochs behind")); // epoch 2
      }
    }
    // The channel is at epoch 4: epoch 1 is unreadable for its members, so the relay refuses it.
    await expect(bob!.mls.receive(CHANNEL, held, 99)).rejects.toMatchObject({ code: "epoch_mismatch" });
    const refused = await answer({ type: "Msg", id: 0n, body: held });
    expect(refused).toMatchObject({ type: "Error", code: "stale_epoch", message: expect.stringContaining("encrypt it again") });
    expect(await answer({ type: "Msg", id: 0n, body: early })).toMatchObject({ type: "Ack", seq: 2n }); // a retry, not refused
    // Epoch 2 is still readable at epoch 4, and accepted.
    expect(await answer({ type: "Msg", id: 0n, body: twoBehind! })).toMatchObject({ type: "Ack", seq: 6n });
    const [read] = await bob!.mls.receive(CHANNEL, twoBehind!, 6);
    expect(read?.kind).toBe("application");

    // After a restart the relay reads the channel's epoch back from disk.
    await relay.close();
    const again = await startRelay({ dataDir: relay.config.dataDir }, store);
    const late = await link(again, "alice");
    expect(await late.request({ type: "Msg", id: 0n, body: held }).catch((error: { answer: Envelope }) => error.answer)).toMatchObject({ type: "Error", code: "stale_epoch" });
  });
});
