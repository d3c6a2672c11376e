import { describe, expect, it } from "vitest";
import { SendGate } from "../../src/relay/sendGate.js";

describe("SendGate", () => {
  it("holds sends until the batch is stored, then releases the chosen links first, each link in order", () => {
    const gate = new SendGate<string>();
    const out: string[] = [];
    const send = (link: string, frame: string) => gate.pass(link, () => out.push(`${link}:${frame}`));
    gate.batch(
      () => {
        send("pub", "ack1");
        send("sub", "msg1");
        send("pub", "msg1");
        send("pub", "ack2");
        send("sub", "msg2");
        send("pub", "msg2");
        expect(out).toEqual([]);
      },
      (link) => link === "pub",
      () => out.push("flush"),
    );
    expect(out).toEqual(["pub:ack1", "pub:msg1", "pub:ack2", "pub:msg2", "flush", "sub:msg1", "sub:msg2"]);
    send("sub", "now");
    expect(out.at(-1)).toBe("sub:now");
  });

  it("drops what a failed batch held", () => {
    const gate = new SendGate<string>();
    const out: string[] = [];
    expect(() =>
      gate.batch(() => {
        gate.pass("a", () => out.push("a"));
        throw new Error("disk full");
      }),
    ).toThrow("disk full");
    gate.pass("a", () => out.push("after"));
    expect(out).toEqual(["after"]);
  });
});
