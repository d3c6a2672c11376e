// A last-resort key package (RFC 9420 §16.8) stays usable after a join uses it: members can add
// an agent whose single-use packages were all taken, as often as they need to. Single-use
// packages are still used up; the last-resort one is renewed a week before it expires.
import { expect, it } from "vitest";
import { openAgent, restart } from "../helpers.js";

it("the last-resort key package admits its agent to two channels; a single-use one only once; it is renewed before it expires", async () => {
  let now = Date.now();
  const clock = () => now;
  const [alice, carol, bob] = [await openAgent("alice"), await openAgent("carol"), await openAgent("bob", undefined, clock)];
  const lastResort = await bob.mls.lastResortKeyPackage();
  expect(await bob.mls.lastResortKeyPackage()).toEqual(lastResort); // the same while it lives
  await restart(bob, clock);
  expect(await bob.mls.lastResortKeyPackage()).toEqual(lastResort); // and across restarts

  const welcomes = [];
  for (const [adder, channel] of [[alice, "acme/lr/a"], [carol, "acme/lr/b"]] as const) {
    await adder.mls.createChannel(channel);
    welcomes.push((await adder.mls.addMembers(channel, [lastResort])).welcome!);
  }
  // Each join uses the package up as a single-use one would be: the second still opens.
  expect((await bob.mls.join(welcomes[0]!, 0)).channel).toBe("acme/lr/a");
  expect((await bob.mls.join(welcomes[1]!, 0)).channel).toBe("acme/lr/b");

  const single = await bob.mls.createKeyPackage();
  const twice = [];
  for (const channel of ["acme/lr/c", "acme/lr/d"]) {
    await alice.mls.createChannel(channel);
    twice.push((await alice.mls.addMembers(channel, [single])).welcome!);
  }
  await bob.mls.join(twice[0]!, 0);
  await expect(bob.mls.join(twice[1]!, 0)).rejects.toMatchObject({ code: "unknown_key_package" });

  now += 24 * 24 * 3600 * 1000; // 6 days of its 30 left
  expect(await bob.mls.lastResortKeyPackage()).not.toEqual(lastResort);
});
