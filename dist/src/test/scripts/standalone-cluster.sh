#!/usr/bin/env bash
# A real Spark standalone cluster on 127.0.0.1, laid out from the Maven-built Spark jars (no Spark download):
# one master and two workers of one core each, so a 2-rank barrier job has one rank per worker. For trying things by
# hand; 'mvn verify' runs the same setup in Java (dist's StandaloneClusterIT, which trains on it).
#
#   standalone-cluster.sh start DIR               lay out DIR/spark-home, start master + 2 workers, print the master URL
#   standalone-cluster.sh submit DIR JAR ARGS...  spark-submit JAR (client mode, its Main-Class) to that cluster
#   standalone-cluster.sh stop DIR                stop the workers (and their executors) and the master started in DIR
#   standalone-cluster.sh check [DIR]             end to end: build the spark-submit jar, start, submit
#                                                 'spark-check --ranks 2', verify both ranks met across 2 executors, stop
#
# Every port is chosen by the OS (0), so several clusters can run on one machine. Logs: DIR/*.log.
# Environment: JAVA_HOME (optional), EXECUTOR_CORES (total cores the submitted app asks for, default 2),
# SUBMIT_OPTS (more spark-submit options, split at spaces, e.g. "--conf spark.executor.defaultJavaOptions=-Xms512m").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)"
SCRIPTS="$ROOT/dist/src/test/scripts"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"
# Spark's module flags, from the one place they are written down
read -r -a FLAGS <<< "$(sed -n 's:.*<megalith.spark.jvmFlags>\(.*\)</megalith.spark.jvmFlags>.*:\1:p' "$ROOT/pom.xml")"
[[ ${#FLAGS[@]} -gt 0 ]] || { echo "megalith.spark.jvmFlags not found in $ROOT/pom.xml" >&2; exit 1; }

# Spark's environment: its jars, Scala version, and the loopback address for every service it binds
spark_env() {
  export SPARK_HOME="$1/spark-home" SPARK_SCALA_VERSION=2.13 SPARK_LOCAL_IP=127.0.0.1
}

# Waits until file $1 has $2 lines matching $3, or fails after $4 seconds.
wait_for() {
  local deadline=$((SECONDS + $4))
  while (( $(grep -c -- "$3" "$1" 2>/dev/null || true) < $2 )); do
    if (( SECONDS >= deadline )); then echo "timed out waiting for '$3' in $1:" >&2; tail -20 "$1" >&2; return 1; fi
    sleep 0.5
  done
}

start() {
  local dir; mkdir -p "$1"; dir="$(cd "$1" && pwd)"
  [[ ! -f "$dir/master.pid" ]] || { echo "a cluster already runs in $dir (stop it first)" >&2; exit 1; }
  # SPARK_HOME/jars: symlinks to the Spark jars in the local Maven repository (the Worker builds executor
  # classpaths from this folder)
  rm -rf "$dir/spark-home"; mkdir -p "$dir/spark-home/jars"
  (cd "$ROOT" && mvn -B -q -f "$SCRIPTS/spark-home/pom.xml" dependency:build-classpath \
      -Dmdep.outputFile="$dir/spark-classpath.txt") >&2
  tr ':' '\n' < "$dir/spark-classpath.txt" | while read -r jar; do ln -s "$jar" "$dir/spark-home/jars/"; done
  spark_env "$dir"
  "$JAVA" "${FLAGS[@]}" -Xmx512m -cp "$SPARK_HOME/jars/*" org.apache.spark.deploy.master.Master \
      --host 127.0.0.1 --port 0 --webui-port 0 > "$dir/master.log" 2>&1 &
  echo $! > "$dir/master.pid"
  wait_for "$dir/master.log" 1 "Starting Spark master at spark://" 60
  local url; url="$(grep -o 'spark://127.0.0.1:[0-9]*' "$dir/master.log" | head -1)"
  echo "$url" > "$dir/master-url"
  for i in 1 2; do
    "$JAVA" "${FLAGS[@]}" -Xmx512m -cp "$SPARK_HOME/jars/*" org.apache.spark.deploy.worker.Worker \
        --host 127.0.0.1 --port 0 --webui-port 0 --cores 1 --memory 2g --work-dir "$dir/work-$i" "$url" \
        > "$dir/worker-$i.log" 2>&1 &
    echo $! > "$dir/worker-$i.pid"
  done
  wait_for "$dir/master.log" 2 "Registering worker" 60
  echo "$url"
}

submit() {
  local dir; dir="$(cd "$1" && pwd)"; local jar="$2"; shift 2
  spark_env "$dir"
  # minRegisteredResourcesRatio=1.0: the session waits until both executors are up, so ranks spread over both
  "$JAVA" "${FLAGS[@]}" -Xmx1g -cp "$SPARK_HOME/jars/*" org.apache.spark.deploy.SparkSubmit \
      --master "$(cat "$dir/master-url")" --deploy-mode client \
      --conf spark.driver.host=127.0.0.1 --conf spark.driver.bindAddress=127.0.0.1 \
      --conf spark.scheduler.minRegisteredResourcesRatio=1.0 --conf spark.ui.enabled=false \
      --executor-cores 1 --total-executor-cores "${EXECUTOR_CORES:-2}" --executor-memory 1g \
      ${SUBMIT_OPTS:-} "$jar" "$@"
}

# Stops only the processes this script started in $1, by their pids; workers first (they stop their executors).
stop() {
  local dir="$1" pid
  for f in "$dir"/worker-*.pid "$dir/master.pid"; do
    [[ -f "$f" ]] || continue
    pid="$(cat "$f")"
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}

check() {
  CHECK_DIR="${1:-$(mktemp -d /tmp/megalith-standalone.XXXXXX)}"
  local dir="$CHECK_DIR" t0=$SECONDS
  echo "== building the spark-submit jar" >&2
  (cd "$ROOT" && mvn -B -q -pl dist -am package -DskipTests) >&2
  local jar; jar="$(ls "$ROOT"/dist/target/megalith-*-spark.jar)"
  trap 'stop "$CHECK_DIR"' EXIT
  echo "== starting master and 2 workers in $dir" >&2
  start "$dir" >&2
  echo "== spark-submit $(basename "$jar") spark-check --ranks 2" >&2
  submit "$dir" "$jar" spark-check --ranks 2 2> "$dir/submit.log" \
      | tee "$dir/submit.out"
  grep -q "spark-check ok: 2 ranks in 2 executor JVM(s) agree on 2 addresses" "$dir/submit.out"
  grep -q "rank 0: executor" "$dir/submit.out" && grep -q "rank 1: executor" "$dir/submit.out"
  find "$dir"/work-* -name '*.jar' -delete # each executor's copy of the app jar; the logs stay
  echo "== ok in $((SECONDS - t0)) s (logs in $dir)" >&2
}

case "${1:-}" in
  start) start "$2" ;;
  submit) submit "${@:2}" ;;
  stop) stop "$2" ;;
  check) check "${2:-}" ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
