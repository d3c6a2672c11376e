import type { OutgoingCommit, ReceiveOutcome } from "../mls/mlsAgent.js";
import { KeyedMutex } from "../mls/mutex.js";
import type { Core } from "./core.js";
import { ignoreCode, relayCodeOf, withTimeout } from "./relayAnswers.js";
import type { RemovalWatch } from "./removalWatch.js";
import { AgentError, type ChannelState } from "./types.js";

const COMMIT_ATTEMPTS = 6;
/** A tool call that commits gives up after this long (hosts cut calls at about 60 s). */
const COMMIT_DEADLINE_MS = 40_000;

export interface CommitHooks {
  /** What the commit's confirmation (and the buffered messages it made readable) did. */
  outcomes(channel: string, outcomes: ReceiveOutcome[]): void;
  readonly watchingRemovals: RemovalWatch;
  /** Whether the stream refused the frame at `seq` for good. */
  refusedAt(channel: string, seq: number): boolean;
}

/**
 * Commits that follow the relay's verdict, one intent at a time per channel: on ack the commit
 * becomes our state once the stream reaches it; on nack the winner is processed and, unless it
 * already did the job, the commit is built again on the new epoch.
 */
export class CommitIntents {
  private readonly intents = new KeyedMutex();

  constructor(
    private readonly core: Core,
    private readonly hooks: CommitHooks,
  ) {}

  /**
   * Sends the commit `build` makes (its Welcome to `recipients`) and follows the verdict. `isDone`
   * says whether a winner did our job already (a joiner added, a member removed).
   */
  run(channel: string, build: () => Promise<OutgoingCommit>, recipients: Uint8Array[], isDone?: () => Promise<boolean>): Promise<ChannelState & { committed: boolean }> {
    const { mls, relay, channels, progress } = this.core;
    const deadline = Date.now() + COMMIT_DEADLINE_MS;
    const left = () => Math.max(1, deadline - Date.now());
    return this.intents.run(channel, async () => {
      for (let attempt = 0; attempt < COMMIT_ATTEMPTS && Date.now() < deadline && !progress.closed; attempt++) {
        if (isDone !== undefined && (await isDone())) return { ...(await this.core.state(channel)), committed: false };
        const outgoing = await build();
        const welcome = outgoing.welcome !== undefined && recipients.length > 0 ? { recipients, welcome: outgoing.welcome } : undefined;
        const verdict = await withTimeout(relay.sendCommit(outgoing.commit, welcome, outgoing.proof), left(), "the commit is queued; it is applied when the relay answers").catch(
          async (error: unknown) => {
            if (relayCodeOf(error) !== "forbidden") throw error;
            await mls.discardCommit(channel).catch((e: unknown) => ignoreCode(e, "no_pending_commit"));
            throw new AgentError("fork_detected", `the relay refused a commit on '${channel}': this agent's view of the channel is not the relay's current epoch (${(error as Error).message})`, { cause: error });
          },
        );
        if (verdict.kind === "ack") {
          // The stream confirms it when it meets the commit, after the frames ordered before it;
          // confirming now would read those with the next epoch's keys (a member just removed
          // could no longer be read). Confirm here only if the stream does not get there in time.
          channels.noteHead(channel, Number(verdict.seq));
          await progress.until(() => channels.reached(channel, Number(verdict.seq)), left(), "").catch(() => undefined);
          await this.hooks.watchingRemovals(channel, () => mls.confirmCommit(channel)).then(
            (o) => this.hooks.outcomes(channel, o),
            (e: unknown) => ignoreCode(e, "no_pending_commit"),
          );
          return { ...(await this.core.state(channel)), committed: true };
        }
        await mls.discardCommit(channel).catch((e: unknown) => ignoreCode(e, "no_pending_commit"));
        await progress.until(() => channels.reached(channel, Number(verdict.winningSeq)), left(), "the relay did not deliver the commit that won", "relay_unreachable");
        if (this.hooks.refusedAt(channel, Number(verdict.winningSeq))) {
          throw new AgentError(
            "fork_detected",
            `the commit that won this epoch of '${channel}' (seq ${verdict.winningSeq}) cannot be processed by this agent: a non-member's commit or a split of the channel; membership changes are blocked until a member re-creates or re-adds`,
          );
        }
      }
      throw new AgentError("epoch_mismatch", `the channel kept changing while committing on '${channel}'; try again`);
    });
  }

  /** Commits the proposals received so far (a member's leave), unless someone did already. */
  commitPending(channel: string): Promise<ChannelState & { committed: boolean }> {
    const { mls } = this.core;
    return this.run(channel, () => mls.commitPendingProposals(channel), [], async () => (await mls.channelInfo(channel)).pendingProposals === 0);
  }
}
