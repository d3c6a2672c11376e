/**
 * What the agent knows about channels whose view may have split from the other members': joins
 * not yet confirmed by anyone else's frame, and channels with frames at their epoch that they
 * cannot read. In memory (provisional joins are kept in the store too, see welcomeJoins.ts);
 * after a restart the evidence of a split is gathered again from the stream.
 */
export class ForkWatch {
  /** Channel → key package kept by a join that no other member's frame has confirmed yet. */
  private readonly provisional = new Map<string, Uint8Array>();
  private readonly forked = new Set<string>();

  joinedProvisionally(channel: string, keyPackageRef: Uint8Array): void {
    this.provisional.set(channel, keyPackageRef);
  }

  /** Another member's frame was processed at our epoch: the join was real. Returns its key package to use up. */
  confirm(channel: string): Uint8Array | undefined {
    const ref = this.provisional.get(channel);
    if (ref === undefined) return undefined;
    this.provisional.delete(channel);
    return ref;
  }

  isProvisional(channel: string): boolean {
    return this.provisional.has(channel);
  }

  markForked(channel: string): void {
    this.forked.add(channel);
  }

  isForked(channel: string): boolean {
    return this.forked.has(channel);
  }

  forget(channel: string): void {
    this.provisional.delete(channel);
    this.forked.delete(channel);
  }
}
