import type { RatchetTree } from "ts-mls/ratchetTree.js";

/**
 * Private-use capabilities (extension types in a leaf's capabilities) that say what a member's
 * release reads. A format that a member from before it would drop is used in a group only while
 * every leaf advertises its capability; ts-mls carries a leaf's capabilities over when it is
 * updated, so a leaf made from an older key package holds its group to the older format for as
 * long as it stays.
 */

/**
 * The member reads texts that carry their sender's clock (the channel manager's timed text kind,
 * agent/messageCodec.ts); a release from before drops them, as they are no kind it keeps.
 */
export const SENT_TIME_CAPABILITY = 0xf5a4;

/** Whether every member's leaf in `tree` advertises `capability` (remembered per tree object). */
export function everyLeafHas(tree: RatchetTree, capability: number): boolean {
  let known = checked.get(tree);
  if (known === undefined) checked.set(tree, (known = new Map()));
  let answer = known.get(capability);
  if (answer === undefined) {
    answer = tree.every((node) => node?.nodeType !== "leaf" || node.leaf.capabilities.extensions.includes(capability));
    known.set(capability, answer);
  }
  return answer;
}

const checked = new WeakMap<RatchetTree, Map<number, boolean>>();
