import { createApplicationMessage, type CiphersuiteImpl } from "ts-mls";
import type { PrivateMessage } from "ts-mls/privateMessage.js";
import { MlsError } from "./errors.js";
import { toMlsError } from "./errorMapping.js";
import { stateRecord, wipe } from "./groupEntry.js";
import type { GroupCache } from "./groupCache.js";
import { encodePrivateMessage } from "./messages.js";
import { everyLeafHas } from "./capabilities.js";
import { encodePacked, everyLeafUnpacks, groupForPacking, PACKED_MARKER } from "./packedPayloads.js";
import { withBucketPadding } from "./padding.js";
import type { SentEchoes } from "./sentEchoes.js";

/** Most messages encrypted (or frames received) per store transaction. */
export const MAX_BATCH = 256;

/** An encrypted application message, ready to send, and how many payloads it carries. */
export interface SealedMessage {
  readonly bytes: Uint8Array;
  readonly payloads: number;
}

/**
 * What an encrypt call sends: a plaintext, or one chosen by what every member of the group reads
 * (everyLeafHas a capability, capabilities.ts), asked under the channel's lock on the state it is
 * encrypted with, so that a member added meanwhile is counted.
 */
export type Payload = Uint8Array | ((everyLeafHas: (capability: number) => boolean) => Uint8Array);

/** An encrypt call waiting for its channel's next batch. */
interface SendRequest {
  readonly payload: Payload;
  /** May share one message with the packable requests next to it in the queue. */
  readonly packable: boolean;
  resolve(sealed: SealedMessage): void;
  reject(error: unknown): void;
}

/**
 * Encrypts application messages. Calls that arrive while their channel is busy wait in its queue
 * and are encrypted together, in call order, on the in-memory state; their common new state is
 * stored in one transaction before any of their ciphertexts is returned. Packable payloads queued
 * next to each other travel in one message when every member can read packed messages.
 */
export class Sealer {
  private readonly queues = new Map<string, SendRequest[]>();

  constructor(
    private readonly groups: GroupCache,
    private readonly cs: CiphersuiteImpl,
    private readonly echoes: SentEchoes,
  ) {}

  enqueue(channel: string, payload: Payload, packable: boolean): Promise<SealedMessage> {
    if (payload instanceof Uint8Array && payload[0] === PACKED_MARKER) return Promise.reject(markerRefused());
    return new Promise((resolve, reject) => {
      const request = { payload, packable, resolve, reject };
      const queue = this.queues.get(channel);
      if (queue !== undefined) return void queue.push(request);
      this.queues.set(channel, [request]);
      void this.groups.locked(channel, () => this.encryptQueued(channel));
    });
  }

  private async encryptQueued(channel: string): Promise<void> {
    const queue = this.queues.get(channel) ?? [];
    const batch = queue.splice(0, MAX_BATCH);
    if (queue.length === 0) this.queues.delete(channel);
    else void this.groups.locked(channel, () => this.encryptQueued(channel));
    try {
      const entry = this.groups.active(channel);
      let state = entry.state;
      const tree = state.ratchetTree;
      const queued = resolvePayloads(batch, (capability) => everyLeafHas(tree, capability));
      const done: { requests: SendRequest[]; message: PrivateMessage }[] = [];
      const consumed: Uint8Array[] = [];
      for (const requests of groupForPacking(queued, everyLeafUnpacks(tree))) {
        const padded = withBucketPadding(this.cs, state.groupContext.groupId, state.groupContext.epoch);
        const plaintext = requests.length === 1 ? requests[0]!.plaintext : encodePacked(requests.map((r) => r.plaintext));
        try {
          const result = await createApplicationMessage(state, plaintext, padded);
          state = result.newState;
          consumed.push(...result.consumed);
          done.push({ requests, message: result.privateMessage });
        } catch (error) {
          const refused = toMlsError(error, "bad_request");
          requests.forEach((r) => r.reject(refused));
        }
      }
      if (done.length === 0) return;
      // Every generation of the batch is recorded as used before any of its ciphertexts exists outside.
      this.groups.apply({ channel, state: stateRecord(state) });
      entry.state = state;
      const sealed = done.map((d) => ({ bytes: encodePrivateMessage(d.message), payloads: d.requests.length }));
      consumed.forEach(wipe);
      for (const message of sealed) this.echoes.remember(message.bytes, state.groupContext.epoch);
      done.forEach((d, i) => d.requests.forEach((r) => r.resolve(sealed[i]!)));
    } catch (error) {
      // Settled requests ignore this; the rest get the error and no ciphertext.
      batch.forEach((r) => r.reject(error));
    }
  }
}

/** The batch's plaintexts, for this group; a request whose payload begins with the marker is refused. */
function resolvePayloads(batch: readonly SendRequest[], everyLeafHas: (capability: number) => boolean): (SendRequest & { plaintext: Uint8Array })[] {
  return batch.flatMap((request) => {
    const plaintext = request.payload instanceof Uint8Array ? request.payload : request.payload(everyLeafHas);
    if (plaintext[0] !== PACKED_MARKER) return [{ ...request, plaintext }];
    request.reject(markerRefused());
    return [];
  });
}

function markerRefused(): MlsError {
  return new MlsError("bad_request", "a payload may not begin with the packed-message marker 0xFF");
}
