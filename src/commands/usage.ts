import { DEFAULT_HTTP_PORT } from "../mcp/http.js";
import { RELAY_USAGE } from "../relay/config.js";

/** Everything `skytale-mcp help` says: every command, flag and environment variable. */
export const USAGE = `usage: skytale-mcp [command] [options]

commands:
  serve         (the default) run the MCP server of the agent named by SKYTALE_IDENTITY, on stdio
  serve --http [--host HOST] [--port PORT]
                the same server over Streamable HTTP at http://HOST:PORT/mcp (default 127.0.0.1:${DEFAULT_HTTP_PORT});
                an address other than loopback needs SKYTALE_MCP_SECRET (clients then send
                "Authorization: Bearer <secret>")
  doctor        check this agent's setup (Node, identity, data dir, relay, relay key, token, port)
                and print a fix for each problem; exit 1 if any check failed
  whoami        print this agent's name, did:key, safety code, data dir and relay status (whether it can
                connect, and if not, why); creates the identity on first use
  key-package   print a fresh single-use key package (base64url) for another agent to add you with
  relay [options]
                run a relay (options below)
  token --sub AGENT --key DID [--ttl SECONDS] [--secret-file F]
                print a bearer token binding the name AGENT to the identity key DID (the agent's
                did:key, from its whoami) that a relay with the same auth secret accepts, and its
                id on stderr; the secret is the first line of F, or SKYTALE_RELAY_SECRET (--secret
                SECRET works too, but shows it to every local user in ps); --ttl defaults to 7 days
  revoke (--id TOKEN_ID | --sub AGENT) [--revocations F]
                revoke one token, or every token of AGENT issued until now, by appending to the
                relay's revocation file F (default SKYTALE_RELAY_REVOCATIONS); relays reading it
                drop those links at once and refuse the tokens from then on
  demo          two agents talk through an embedded relay; shows what the relay sees
  version       print the version (also -V, --version)
  help          print this (also -h, --help)

environment (the agent: serve, doctor, whoami, key-package):
  SKYTALE_IDENTITY     the agent's name (required): letters, digits, . _ @ -
  SKYTALE_HOME         root of the default layout (default ~/.skytale): agents in <home>/<identity>,
                       the local relay in <home>/relay
  SKYTALE_DATA_DIR     this agent's data dir (default <SKYTALE_HOME>/<identity>); set alone, the
                       local relay keeps its data in <SKYTALE_DATA_DIR>/local-relay
  SKYTALE_RELAY        relay URL, ws:// or wss://, or a clustered relay's node URLs separated by commas
                       (default: the local relay, started on demand)
  SKYTALE_LOCAL_RELAY_PORT
                       port of the local relay on 127.0.0.1 (default 8787); the same for every agent
                       that should meet there
  SKYTALE_RELAY_KEY    the relay's key as it prints it (default: recorded on first use)
  SKYTALE_TOKEN        bearer token for a relay that requires auth
  SKYTALE_COVER        cover traffic: off | poisson | constant (default poisson)
  SKYTALE_COVER_RATE   cover frames per second (above 0, at most 1000)
  SKYTALE_COVER_CELL   bytes of every frame on the link: 256, 512, 1024, 2048, 4096, 8192, 16384,
                       32768 (default 1024)
  SKYTALE_PASSPHRASE   derive the at-rest key from this instead of a key file
  SKYTALE_ACCEPT_DIRECTORY_ADDS
                       channels others add this agent to without an invite: contacts (default: join
                       those a contact adds, keep the rest as offers), all, or none
  SKYTALE_MCP_SECRET   bearer secret for serve --http (required off loopback)

environment (relay, as defaults for its flags):
  SKYTALE_RELAY_HOST, SKYTALE_RELAY_PORT, SKYTALE_RELAY_DATA_DIR (default <SKYTALE_HOME>/relay),
  SKYTALE_RELAY_SECRET, SKYTALE_RELAY_REVOCATIONS, SKYTALE_RELAY_METRICS_SECRET, SKYTALE_RELAY_COVER,
  SKYTALE_RELAY_NATS, SKYTALE_RELAY_NATS_PREFIX, SKYTALE_RELAY_NATS_REPLICAS, SKYTALE_RELAY_NATS_CREDS,
  SKYTALE_RELAY_KEY_FILE

${RELAY_USAGE}`;
