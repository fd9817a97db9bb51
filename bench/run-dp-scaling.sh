#!/usr/bin/env bash
# Data-parallel scaling on this machine, Megalith against PyTorch DDP over gloo, same global batch
# (12 x 64 tokens, the nanoGPT CPU Shakespeare config), interleaved in ROUNDS rounds:
#   Megalith DP=1 (1 thread), DP=1 (2 threads), DP=2 (2 ranks as Spark local[2] tasks over Netty, 1 thread each)
#   PyTorch  world=1, world=2 (DDP, gloo, 1 thread each)
# Megalith's numbers are the medians over steps 30..STEPS of metrics.jsonl (tokens/s of the global batch,
# and comm_ms: communication a step waited for, i.e. not hidden behind backward).
#   bench/run-dp-scaling.sh [ROUNDS] [STEPS]      (needs ../shared/data/tinyshakespeare.txt; python3-torch for the reference)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
STEPS="${2:-150}"
DATA="${DATA:-../shared/data/tinyshakespeare.txt}"
OUT="$(mktemp -d)"
summarise() { # run dir -> "tokens_per_sec comm_ms"
  /usr/bin/python3 - "$1" <<'PY'
import json, statistics, sys
rs = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
rs = [r for r in rs if r.get("step", 0) >= 30 and "tokens_per_sec" in r]
print(f"tokens_per_sec={statistics.median(r['tokens_per_sec'] for r in rs):.0f} "
      f"comm_ms={statistics.median(r.get('comm_ms', 0) for r in rs):.2f} "
      f"step_ms={statistics.median(r['step_ms'] for r in rs):.2f}")
PY
}
run() { # name, extra --set args...
  local name="$1"; shift
  local dir="$OUT/$name-$r"
  ./megalith train --config conf/shakespeare-char.yaml --set data.path="$DATA" --set run.dir="$dir" \
    --set train.max_steps="$STEPS" --set train.eval_every=0 --set train.eval_batches=1 --set checkpoint.every=0 \
    --set generate.samples=0 --set runtime.workers=1 "$@" > "$dir.log" 2>&1
  echo "round=$r megalith $name $(summarise "$dir")"
}
for r in $(seq "$ROUNDS"); do
  run dp1-1thread --set runtime.threads=1
  run dp1-2threads --set runtime.threads=2
  run dp2 --set parallel.dp=2 --set runtime.threads=1
  if /usr/bin/python3 -c "import torch" 2>/dev/null; then
    for w in 1 2; do
      echo "round=$r $( (cd bench/pytorch && /usr/bin/python3 ddp_reference.py --world $w --port $((29533 + r * 10 + w))) | tail -1)"
    done
  fi
done
