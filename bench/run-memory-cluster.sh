#!/usr/bin/env bash
# The memory benchmark with every rank in its own JVM: a real Spark standalone cluster on 127.0.0.1 (master and two
# one-core workers, dist/src/test/scripts/standalone-cluster.sh), the 25 M model of bench/run-memory.sh submitted
# with spark-submit at dp=2 for each ZeRO stage. Each executor's RSS is sampled from /proc every second; printed per
# layout: each executor's RSS at step 20 and at the last step, its peak, and rank 0's tensor_mib + state_mib.
#   bench/run-memory-cluster.sh [STEPS] [LAYOUTS...]     (default 40 steps, dp2-z0 dp2-z1 dp2-z2 dp2-z3)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${1:-40}"; shift || true
LAYOUTS=("$@"); [[ ${#LAYOUTS[@]} -gt 0 ]] || LAYOUTS=(dp2-z0 dp2-z1 dp2-z2 dp2-z3)
DATA="$(cd "$(dirname "${DATA:-../shared/data/tinyshakespeare.txt}")" && pwd)/$(basename "${DATA:-tinyshakespeare.txt}")"
read -r -a MODEL_ARGS <<< "${MODEL:---set model.n_layer=8 --set model.n_embd=512 --set model.n_head=8}"
OUT="${OUT:-$(mktemp -d)}"; mkdir -p "$OUT"; OUT="$(cd "$OUT" && pwd)"
CLUSTER=dist/src/test/scripts/standalone-cluster.sh
[[ -n "$(ls dist/target/megalith-*-spark.jar 2>/dev/null)" ]] || mvn -B -q -pl dist -am package -DskipTests
JAR="$(ls "$PWD"/dist/target/megalith-*-spark.jar)"
"$CLUSTER" start "$OUT/cluster" > /dev/null
trap '"$CLUSTER" stop "$OUT/cluster"' EXIT
# the executors start with a 512 MiB heap, as the megalith command does for its own JVM
export SUBMIT_OPTS="${SUBMIT_OPTS:---conf spark.executor.defaultJavaOptions=-Xms512m}"
for layout in "${LAYOUTS[@]}"; do
  n="${layout#dp}"; n="${n%%-*}"; stage="${layout##*-z}"
  dir="$OUT/$layout"
  "$CLUSTER" submit "$OUT/cluster" "$JAR" train --config "$PWD/conf/shakespeare-char.yaml" --set data.path="$DATA" \
      --set run.dir="$dir" "${MODEL_ARGS[@]}" --set train.max_steps="$STEPS" --set train.eval_every=0 \
      --set train.eval_batches=1 --set checkpoint.every=0 --set generate.samples=0 --set runtime.workers=1 \
      --set parallel.dp="$n" --set zero.stage="$stage" > "$dir.log" 2>&1 &
  submitter=$!
  : > "$dir.rss"
  while kill -0 "$submitter" 2>/dev/null; do # executor pid, RSS in MiB, the step rank 0 last reported
    step="$(tail -1 "$dir/metrics.jsonl" 2>/dev/null | sed -n 's/.*"step":\([0-9]*\).*/\1/p' || true)"
    for pid in $(pgrep -f CoarseGrainedExecutorBackend || true); do
      rss="$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status" 2>/dev/null || true)"
      [[ -z "$rss" ]] || echo "$pid $rss ${step:-0}" >> "$dir.rss"
    done
    sleep 1
  done
  wait "$submitter"
  /usr/bin/python3 - "$dir" "$layout" <<'PY'
import collections, json, sys
run, layout = sys.argv[1], sys.argv[2]
samples = collections.defaultdict(list)
for line in open(run + ".rss"):
    pid, rss, step = line.split()
    samples[pid].append((int(step), int(rss)))
last = [json.loads(l) for l in open(run + "/metrics.jsonl") if '"step_ms"' in l][-1]
parts = []
for pid, s in sorted(samples.items()):
    at20 = next((r for st, r in s if st >= 20), float("nan"))
    parts.append(f"executor {pid}: rss@20={at20} rss@end={s[-1][1]} peak={max(r for _, r in s)} MiB")
print(f"{layout:7s} " + "; ".join(parts) + f"; rank0 held={last.get('tensor_mib', 0) + last.get('state_mib', 0):.0f} MiB"
      f" step_ms(last)={last['step_ms']:.0f} loss@{last['step']}={last['loss']:.4f}")
PY
done
