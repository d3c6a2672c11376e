// npx tsx bench/groupOpsProfile.ts [size] [reps] — CPU profile of add and remove in a group of
// `size` (default 1000), split into commit creation (committer) and processing (another member).
// Writes one .cpuprofile per phase to PROFILE_DIR (default the system temp dir) and prints the
// self and inclusive time per area (ours by folder, ts-mls, the garbage collector) and the
// heaviest functions. ALLOC=1 samples heap allocations instead and prints bytes per area.
// ONLY=<text> keeps only inclusive entries whose name contains it.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { Session, type HeapProfiler, type Profiler } from "node:inspector";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MlsAgent, type OutgoingCommit } from "../src/mls/mlsAgent.js";
import { loadCiphersuite } from "../src/mls/suite.js";
import { AgentStore } from "../src/store/agentStore.js";
import { memberKeyPackages } from "./scaleKit.js";

const size = Number(process.argv[2] ?? 1000);
const reps = Number(process.argv[3] ?? 5);
const outDir = process.env.PROFILE_DIR ?? tmpdir();
const allocations = process.env.ALLOC === "1";

const session = new Session();
session.connect();
const post = <T>(method: string, params?: object): Promise<T> =>
  new Promise((resolve, reject) => session.post(method, params, (err, res) => (err ? reject(err) : resolve(res as T))));

type Phase = "add-create" | "add-process" | "remove-create" | "remove-process";
const profiles: Record<Phase, Profiler.Profile[]> = { "add-create": [], "add-process": [], "remove-create": [], "remove-process": [] };
const heapProfiles: Record<Phase, HeapProfiler.SamplingHeapProfile[]> = { "add-create": [], "add-process": [], "remove-create": [], "remove-process": [] };

async function profiled<T>(phase: Phase, fn: () => Promise<T>): Promise<T> {
  if (allocations) {
    await post("HeapProfiler.startSampling", { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    const result = await fn();
    const { profile } = await post<{ profile: HeapProfiler.SamplingHeapProfile }>("HeapProfiler.stopSampling");
    heapProfiles[phase].push(profile);
    return result;
  }
  await post("Profiler.start");
  const result = await fn();
  const { profile } = await post<{ profile: Profiler.Profile }>("Profiler.stop");
  profiles[phase].push(profile);
  return result;
}

/** Whose code a frame is: ours by folder, ts-mls, or undecided (node internals, native code). */
function owner(url: string): string | undefined {
  if (url.includes("/ts-mls/")) return "ts-mls";
  if (url.includes("/src/mls/crypto/")) return "ours: crypto provider";
  if (url.includes("/src/mls/stateCodec") || url.includes("/src/mls/secretTreeCodec") || url.includes("/src/mls/tlsLength")) return "ours: state codec";
  if (url.includes("/src/store/") || url.includes("better-sqlite3")) return "ours: store (seal + SQLite)";
  if (url.includes("/src/")) return "ours: other";
  return undefined;
}

/**
 * The area a sample is charged to: the garbage collector and V8's own work stand alone; node
 * internals and native code (OpenSSL, SQLite) go to the nearest caller that is ours or ts-mls's.
 */
function areaOf(leaf: Profiler.ProfileNode, byId: Map<number, Profiler.ProfileNode>, parent: Map<number, number>): string {
  if (leaf.callFrame.functionName.startsWith("(")) return leaf.callFrame.functionName;
  for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
    const found = owner(byId.get(id)!.callFrame.url);
    if (found !== undefined) return found;
  }
  return "other";
}

/** Self and inclusive ms per function key and self ms per area, summed over profiles. */
function summarise(list: Profiler.Profile[]): void {
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  const areas = new Map<string, number>();
  let total = 0;
  for (const p of list) {
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const dt = p.timeDeltas ?? [];
    const samples = p.samples ?? [];
    for (let i = 0; i < samples.length; i++) {
      const ms = (dt[i + 1] ?? 0) / 1000;
      total += ms;
      const leaf = byId.get(samples[i]!)!;
      const key = (n: Profiler.ProfileNode) => `${n.callFrame.functionName || "(anon)"} ${n.callFrame.url.replace(/.*\/(node_modules|src)\//, "$1/")}:${n.callFrame.lineNumber + 1}`;
      self.set(key(leaf), (self.get(key(leaf)) ?? 0) + ms);
      const a = areaOf(leaf, byId, parent);
      areas.set(a, (areas.get(a) ?? 0) + ms);
      const seen = new Set<string>();
      for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
        const k = key(byId.get(id)!);
        if (seen.has(k)) continue;
        seen.add(k);
        incl.set(k, (incl.get(k) ?? 0) + ms);
      }
    }
  }
  const per = (ms: number) => (ms / list.length).toFixed(1);
  console.log(`  total ${per(total)} ms per op`);
  console.log("  self by area:", [...areas].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${per(v)}`).join(", "));
  console.log("  top self:");
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`    ${per(v).padStart(6)}  ${k}`);
  console.log("  top inclusive:");
  for (const [k, v] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, 400).filter(([k]) => !process.env.ONLY || k.includes(process.env.ONLY)).slice(0, 45)) console.log(`    ${per(v).padStart(6)}  ${k}`);
}

/** Sampled bytes allocated per area (charged like CPU time) and the heaviest allocating functions. */
function summariseAllocations(list: HeapProfiler.SamplingHeapProfile[]): void {
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  const walk = (node: HeapProfiler.SamplingHeapProfileNode, area: string): void => {
    const here = owner(node.callFrame.url) ?? area;
    areas.set(here, (areas.get(here) ?? 0) + node.selfSize);
    if (node.selfSize > 0) {
      const k = `${node.callFrame.functionName || "(anon)"} ${node.callFrame.url.replace(/.*\/(node_modules|src)\//, "$1/")}:${node.callFrame.lineNumber + 1}`;
      functions.set(k, (functions.get(k) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child, here);
  };
  for (const p of list) walk(p.head, "other");
  const mb = (bytes: number) => (bytes / list.length / 2 ** 20).toFixed(1);
  let total = 0;
  for (const v of areas.values()) total += v;
  console.log(`  total ${mb(total)} MB allocated per op`);
  console.log("  by area:", [...areas].sort((a, b) => b[1] - a[1]).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${mb(v)}`).join(", "));
  for (const [k, v] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`    ${mb(v).padStart(6)} MB  ${k}`);
}

await post(allocations ? "HeapProfiler.enable" : "Profiler.enable");
if (!allocations) await post("Profiler.setSamplingInterval", { interval: 100 });
const dir = mkdtempSync(join(tmpdir(), "skytale-groupops-profile-"));
const cs = await loadCiphersuite();
const stores = [AgentStore.open(join(dir, "creator")), AgentStore.open(join(dir, "observer"))];
const creator = await MlsAgent.open({ name: "creator", port: stores[0]!, cipherSuite: cs });
const observer = await MlsAgent.open({ name: "observer", port: stores[1]!, cipherSuite: cs });
const channel = "bench/profile/groupops";
let seq = 0;
const fillers = await memberKeyPackages(cs, "m", size - 2);
await creator.createChannel(channel);
const build = await creator.addMembers(channel, [await observer.createKeyPackage(), ...fillers.map((f) => f.stored.publicPackage)]);
await creator.confirmCommit(channel);
await observer.join(build.welcome!, seq++);

async function run(op: "add" | "remove", make: () => Promise<OutgoingCommit>): Promise<void> {
  const out = await profiled(`${op}-create`, make);
  await creator.confirmCommit(channel);
  await profiled(`${op}-process`, () => observer.receive(channel, out.commit, seq++));
}
try {
  for (let i = 0; i < reps; i++) {
    const joinerStore = AgentStore.open(join(dir, `j${i}`));
    stores.push(joinerStore);
    const kp = await (await MlsAgent.open({ name: `j${i}`, port: joinerStore, cipherSuite: cs })).createKeyPackage();
    await run("add", () => creator.addMembers(channel, [kp]));
    await run("remove", () => creator.removeMembers(channel, [`m${i}`]));
  }
} finally {
  stores.forEach((s) => s.close());
  rmSync(dir, { recursive: true, force: true });
}
for (const phase of Object.keys(profiles) as Phase[]) {
  console.log(`${phase} (${reps} ops, size ${size}):`);
  if (allocations) {
    summariseAllocations(heapProfiles[phase]);
  } else {
    writeFileSync(join(outDir, `groupops-${phase}.cpuprofile`), JSON.stringify(profiles[phase][reps - 1]));
    summarise(profiles[phase]);
  }
}
