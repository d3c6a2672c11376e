// The relay of the traffic analysis in its own process, so that its work (SQLite, fan-out, its
// side of every link's cover) runs on its own clock. argv: the relay's command-line flags (cover
// settings); it picks a free port and a temp data dir, prints {"port", "key"} once listening and
// stops when stdin ends.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseRelayConfig } from "../src/relay/config.js";
import { Relay } from "../src/relay/relayServer.js";

const dir = mkdtempSync(join(tmpdir(), "skytale-analysis-relay-"));
const relay = await Relay.start(parseRelayConfig(["--port", "0", "--data-dir", dir, ...process.argv.slice(2)], {}), { log: (line) => process.stderr.write(`relay: ${line}\n`) });
process.stdout.write(`${JSON.stringify({ port: relay.port, key: relay.publicKeyBase64 })}\n`);
process.stdin.resume();
process.stdin.on("end", () => {
  void relay.close().finally(() => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
});
