#!/usr/bin/env bash
# Single-rank training throughput, Megalith against PyTorch eager, interleaved so that both see the
# same machine conditions: ROUNDS rounds of {PyTorch, Megalith} at 1 thread, then at 2 threads
# (Megalith with 1 worker and with 2 workers). Prints every run; docs/BENCHMARKS.md records medians.
#   bench/run-throughput.sh [ROUNDS]        (needs: mvn package; Debian's python3-torch for the reference)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-3}"
CP="bench/target/bench-0.1.0-SNAPSHOT.jar:$(cat bench/target/runtime-classpath.txt)"
JAVA_FLAGS=(-Dai.djl.offline=true -XX:+IgnoreUnrecognizedVMOptions --enable-native-access=ALL-UNNAMED)
PY=/usr/bin/python3
for r in $(seq "$ROUNDS"); do
  for t in 1 2; do
    if "$PY" -c "import torch" 2>/dev/null; then
      OMP_NUM_THREADS=$t "$PY" bench/pytorch/gpt_cpu_reference.py --threads "$t" | sed "s/^/round=$r pytorch /" | cut -c1-120
    fi
    OMP_NUM_THREADS=$t java "${JAVA_FLAGS[@]}" -cp "$CP" io.megalith.bench.TrainThroughput --threads "$t" --workers 1 \
      | sed "s/^/round=$r megalith /"
    if [[ $t == 2 ]]; then
      OMP_NUM_THREADS=$t java "${JAVA_FLAGS[@]}" -cp "$CP" io.megalith.bench.TrainThroughput --threads 2 --workers 2 \
        | sed "s/^/round=$r megalith /"
    fi
  done
done
