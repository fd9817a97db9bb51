#!/usr/bin/env bash
# Speed of two builds of Megalith (e.g. main before and after a refactor), interleaved so that both see the same
# machine conditions. Each round runs, for each tree in turn:
#   single:  TrainThroughput (single rank, 1 libtorch thread: nanoGPT's CPU Shakespeare model), median tokens/s
#   dp2:     `megalith train` of conf/shakespeare-char.yaml at parallel.dp=2 (local[2]), median step_ms of steps >= 5
# and prints the ratio NEW/OLD of each round (tokens/s: higher is faster; step_ms: lower is faster).
#   bench/compare-builds.sh OLD_TREE NEW_TREE [ROUNDS] [DP_STEPS (default 100)]
# Each tree must be built: `mvn -q -DskipTests -pl launcher,bench -am package` and
# `touch launcher/target/.megalith-build-stamp` in it. Needs ../shared/data/tinyshakespeare.txt.
set -euo pipefail
OLD="$(cd "$1" && pwd)"; NEW="$(cd "$2" && pwd)"; ROUNDS="${3:-3}"; DP_STEPS="${4:-100}"
DATA="$(cd "$(dirname "$0")/../.." && pwd)/shared/data/tinyshakespeare.txt"
[[ -f "$DATA" ]] || DATA="$(cd "$NEW/.." && pwd)/shared/data/tinyshakespeare.txt"
OUT="${OUT:-$(mktemp -d)}"
JAVA_FLAGS=(-Dai.djl.offline=true -XX:+IgnoreUnrecognizedVMOptions --enable-native-access=ALL-UNNAMED)
single() { # tree -> median tokens/s
  local cp="$1/bench/target/bench-0.1.0-SNAPSHOT.jar:$(cat "$1/bench/target/runtime-classpath.txt")"
  OMP_NUM_THREADS=1 java "${JAVA_FLAGS[@]}" -cp "$cp" io.megalith.bench.TrainThroughput --threads 1 --workers 1 \
    --data "$DATA" | grep -o "tokens_per_sec=[0-9.]*" | head -1 | cut -d= -f2
}
dp2() { # tree, run dir -> median step_ms over steps >= 5
  (cd "$1" && ./megalith train --config conf/shakespeare-char.yaml --set data.path="$DATA" --set run.dir="$2" \
    --set train.max_steps="$DP_STEPS" --set train.eval_every=0 --set train.eval_batches=1 --set checkpoint.every=0 \
    --set generate.samples=0 --set parallel.dp=2 > "$2.log" 2>&1)
  /usr/bin/python3 -c "
import json, statistics, sys
rs = [json.loads(l) for l in open(sys.argv[1] + '/metrics.jsonl')]
print(round(statistics.median(r['step_ms'] for r in rs if 'step_ms' in r and r['step'] >= 5), 1))" "$2"
}
for ((r = 1; r <= ROUNDS; r++)); do
  so=$(single "$OLD"); sn=$(single "$NEW")
  do_=$(dp2 "$OLD" "$OUT/old-$r"); dn=$(dp2 "$NEW" "$OUT/new-$r")
  /usr/bin/python3 -c "
import sys
so, sn, do, dn = map(float, sys.argv[1:5])
print(f'round {sys.argv[5]}: single old {so:.0f} new {sn:.0f} tokens/s (new/old {sn/so:.3f}); '
      f'dp2 step old {do:.0f} new {dn:.0f} ms (new/old {dn/do:.3f})')" "$so" "$sn" "$do_" "$dn" "$r"
done
