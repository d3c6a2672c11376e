// The relay side of a chaos run: one relay process on one data dir, or three relay nodes on a
// three-server NATS cluster (streams with three replicas) that act as one relay. Faults SIGKILL one
// relay process (one node) at a time and restart it on the same port; in a cluster, one NATS
// server at a time is SIGKILLed and restarted on its store too, so two of three always hold a quorum.
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePorts, NatsServer } from "../fixtures/natsServer.js";
import { RelayHandle, sleep, type RelayAddress } from "./cluster.js";

export interface RelayFleet extends RelayAddress {
  /** Relay processes killed by faults so far. */
  readonly kills: number;
  /** NATS servers killed by faults so far (0 without a cluster). */
  readonly natsKills: number;
  /** The URL of one relay node, for an observer. */
  readonly urls: readonly string[];
  start(): Promise<void>;
  /** SIGKILLs one relay process, leaves it down for `downMs`, restarts it; says which. */
  killRelay(pick: <T>(xs: readonly T[]) => T, downMs: number): Promise<string>;
  /** The same for one NATS server; undefined without NATS. */
  readonly killNats: ((pick: <T>(xs: readonly T[]) => T, downMs: number) => Promise<string>) | undefined;
  /** Everything up again (after the faults). */
  restore(): Promise<void>;
  stop(): Promise<void>;
}

export class SingleRelay implements RelayFleet {
  private relay: RelayHandle;
  private faults = 0;
  readonly killNats = undefined;
  readonly natsKills = 0;

  constructor(private readonly root: string) {
    this.relay = new RelayHandle(join(root, "relay"));
  }

  get url(): string {
    return this.relay.url;
  }

  get urls(): readonly string[] {
    return [this.relay.url];
  }

  get key(): Uint8Array {
    return this.relay.key;
  }

  get kills(): number {
    return this.faults;
  }

  async start(): Promise<void> {
    const [port] = await freePorts(1);
    this.relay = new RelayHandle(join(this.root, "relay"), [], undefined, port);
    await this.relay.start();
  }

  async killRelay(_pick: <T>(xs: readonly T[]) => T, downMs: number): Promise<string> {
    this.faults++;
    await this.relay.kill();
    await sleep(downMs);
    await this.relay.start();
    return "relay";
  }

  async restore(): Promise<void> {
    if (!this.relay.up) await this.relay.start();
  }

  stop(): Promise<void> {
    return this.relay.kill();
  }
}

export class ClusterRelay implements RelayFleet {
  private servers: NatsServer[] = [];
  private nodes: RelayHandle[] = [];
  private faults = 0;
  private natsFaults = 0;

  constructor(
    private readonly root: string,
    private readonly size = 3,
  ) {}

  get url(): string {
    return this.urls.join(",");
  }

  get urls(): readonly string[] {
    return this.nodes.map((n) => n.url);
  }

  get key(): Uint8Array {
    return this.nodes[0]!.key;
  }

  get kills(): number {
    return this.faults;
  }

  get natsKills(): number {
    return this.natsFaults;
  }

  async start(): Promise<void> {
    mkdirSync(this.root, { recursive: true });
    this.servers = await NatsServer.cluster(this.size, { dir: join(this.root, "nats") });
    const keyFile = join(this.root, "relay.key");
    writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
    const nats = this.servers.map((s) => s.url).join(",");
    const ports = await freePorts(this.size);
    this.nodes = Array.from(
      { length: this.size },
      (_, i) => new RelayHandle(join(this.root, `node${i}`), ["--nats", nats, "--nats-replicas", String(this.size), "--key-file", keyFile], join(this.root, `node${i}.log`), ports[i]),
    );
    // One after the other: the first creates the streams, the others find them.
    for (const node of this.nodes) await node.start();
  }

  async killRelay(pick: <T>(xs: readonly T[]) => T, downMs: number): Promise<string> {
    const i = pick(this.nodes.map((_, k) => k));
    this.faults++;
    await this.nodes[i]!.kill();
    await sleep(downMs);
    await this.nodes[i]!.start();
    return `relay node ${i}`;
  }

  readonly killNats = async (pick: <T>(xs: readonly T[]) => T, downMs: number): Promise<string> => {
    const server = pick(this.servers);
    this.natsFaults++;
    await server.kill();
    await sleep(downMs);
    await server.start();
    return `NATS server ${server.name}`;
  };

  async restore(): Promise<void> {
    for (const s of this.servers) if (!s.up) await s.start();
    for (const n of this.nodes) if (!n.up) await n.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill()));
    await Promise.all(this.servers.map((s) => s.kill()));
  }
}
