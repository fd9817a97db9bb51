#!/usr/bin/env bash
# What each layout holds and how fast it steps, on a model big enough for it to matter (default: the 25 M
# parameter GPT of issue 14: conf/shakespeare-char.yaml with 8 layers, 512 wide, 8 heads), ranks as Spark
# local[N] tasks in one JVM over Netty loopback:
#   per layout: process RSS at step 20 and at the last step (metrics.jsonl rss_mib), peak RSS (GNU time -v),
#   rank 0's measured tensor_mib + state_mib at the last step, against the theory of the layout (per rank:
#   params + grads + AdamW = 4 + 4 + 8 bytes per parameter, ZeRO-1 dividing the 8, ZeRO-2 the 12, ZeRO-3 the 16
#   by N; TP and PP divide everything by their size), median step_ms and comm_ms over steps >= 5.
#   bench/run-memory.sh [STEPS] [LAYOUTS...]      (needs ../shared/data/tinyshakespeare.txt)
#   LAYOUTS: dp2-z0 dp2-z1 dp2-z2 dp2-z3 dp4-z0 ... tp2 pp2 one (default: dp2-z0..z3 tp2 pp2)
#   MODEL="--set model.n_layer=8 --set model.n_embd=512 --set model.n_head=8" (override for the ~100 M model)
#   ROUNDS=N runs the whole list N times, interleaved, so step-time ratios compare runs under the same load
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${1:-40}"; shift || true
LAYOUTS=("$@"); [[ ${#LAYOUTS[@]} -gt 0 ]] || LAYOUTS=(dp2-z0 dp2-z1 dp2-z2 dp2-z3 tp2 pp2)
DATA="${DATA:-../shared/data/tinyshakespeare.txt}"
read -r -a MODEL_ARGS <<< "${MODEL:---set model.n_layer=8 --set model.n_embd=512 --set model.n_head=8}"
OUT="${OUT:-$(mktemp -d)}"; mkdir -p "$OUT"
summarise() { # run dir, time -v log, layout
  /usr/bin/python3 - "$@" <<'PY'
import json, re, statistics, sys
run, timelog, layout = sys.argv[1], sys.argv[2], sys.argv[3]
rs = [json.loads(l) for l in open(run + "/metrics.jsonl")]
steps = [r for r in rs if "step_ms" in r]
cfg = {}
for line in open(run + "/config.yaml"):
    m = re.match(r"\s+(n_layer|n_embd|block_size|dp|tp|pp|stage):\s*(\d+)", line)
    if m: cfg[m.group(1)] = int(m.group(2))
L, d, T = cfg["n_layer"], cfg["n_embd"], cfg["block_size"]
P = L * (12 * d * d + 2 * d) + 65 * d + T * d + d  # bias-free GPT on 65 characters
n, tp, pp, z = cfg.get("dp", 1), cfg.get("tp", 1), cfg.get("pp", 1), cfg.get("stage", 0)
per = {0: 16, 1: 8 + 8 / n, 2: 4 + 12 / n, 3: 16 / n}[z]
theory = P * per / (tp * pp) / 2**20
at = lambda s: next((r["rss_mib"] for r in steps if r["step"] == s), float("nan"))
last = steps[-1]
peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(timelog).read()).group(1)) / 1024
tail = [r for r in steps if r["step"] >= 5]
print(f"{layout:7s} P={P/1e6:.1f}M rss@20={at(20):.0f} rss@{last['step']}={last['rss_mib']:.0f} MiB "
      f"peak={peak:.0f} MiB rank0 held={last.get('tensor_mib', 0) + last.get('state_mib', 0):.0f} MiB "
      f"(tensors {last.get('tensor_mib', 0):.0f} + state {last.get('state_mib', 0):.0f}) theory={theory:.0f} MiB "
      f"step_ms={statistics.median(r['step_ms'] for r in tail):.0f} comm_ms={statistics.median(r.get('comm_ms', 0) for r in tail):.0f} "
      f"loss@{last['step']}={last['loss']:.4f}")
PY
}
ROUNDS="${ROUNDS:-1}"
for ((round = 1; round <= ROUNDS; round++)); do
for layout in "${LAYOUTS[@]}"; do
  case "$layout" in
    one) args=() ;;
    dp*-z*) n="${layout#dp}"; n="${n%%-*}"; args=(--set parallel.dp="$n" --set zero.stage="${layout##*-z}") ;;
    tp2) args=(--set parallel.tp=2) ;;
    pp2) args=(--set parallel.pp=2 --set parallel.microbatches=4) ;;
    *) echo "unknown layout $layout" >&2; exit 2 ;;
  esac
  dir="$OUT/$layout"; [[ "$ROUNDS" == 1 ]] || dir="$OUT/$layout-r$round"
  /usr/bin/time -v ./megalith train --config conf/shakespeare-char.yaml --set data.path="$DATA" --set run.dir="$dir" \
    "${MODEL_ARGS[@]}" --set train.max_steps="$STEPS" --set train.eval_every=0 --set train.eval_batches=1 \
    --set checkpoint.every=0 --set generate.samples=0 --set runtime.workers=1 "${args[@]}" > "$dir.log" 2> "$dir.time"
  summarise "$dir" "$dir.time" "$layout"
done
done
