#!/usr/bin/env bash
# bench/ab.sh REF BENCH... — runs the named benchmarks (e.g. bench:e2e bench:mcp) alternately on
# REF (built in a temporary worktree that shares this tree's node_modules) and on this tree, ROUNDS
# times each (default 2), in one run on one machine, so that a change is compared with its base
# under the same load. Prints each run's table; docs/benchmarks.md is left as it was.
set -euo pipefail
ref=${1:?usage: bench/ab.sh REF BENCH...}; shift
here=$(cd "$(dirname "$0")/.." && pwd)
old=$(mktemp -d)/base
git -C "$here" worktree add -q --detach "$old" "$ref"
trap 'git -C "$here" worktree remove --force "$old"' EXIT
ln -s "$here/node_modules" "$old/node_modules"
(cd "$old" && npm run -s build >/dev/null)
(cd "$here" && npm run -s build >/dev/null)
cp "$here/docs/benchmarks.md" "$old/benchmarks.keep"
for round in $(seq 1 "${ROUNDS:-2}"); do
  for bench in "$@"; do
    for side in base head; do
      dir=$here; [ "$side" = base ] && dir=$old
      echo "=== $bench, $side ($(git -C "$dir" rev-parse --short HEAD)), round $round, load $(cut -d' ' -f1 /proc/loadavg)"
      (cd "$dir" && npx tsx "bench/${bench#bench:}.bench.ts" 2>/dev/null | grep '^|' || true)
    done
  done
done
cp "$old/benchmarks.keep" "$here/docs/benchmarks.md"
