#!/usr/bin/env bash
# Server and load-tool CPU per item, and the server's memory high-water mark.
# Starts `tael serve` on a fresh data dir, sends 600k spans, 600k log records
# and 600k metric points (gRPC, batch 1000 x4), and after each run prints the
# server's CPU (from /proc/<pid>/stat, flush included: it waits 4 s) and the
# load tool's CPU (user + sys), per item, in microseconds.
# Usage: scripts/cpu_per_item.sh   (uses target/release/tael; build it first)
set -euo pipefail
cd "$(dirname "$0")/.."
TAEL=$PWD/target/release/tael
DIR=$(mktemp -d /tmp/tael-cpu.XXXXXX)
GRPC=127.0.0.1:24417 REST=127.0.0.1:27801
"$TAEL" serve --quiet --data-dir "$DIR" --rest-api-addr $REST --otlp-grpc-addr $GRPC --otlp-http-addr off 2>"$DIR/server.log" &
PID=$!
trap 'kill $PID 2>/dev/null; rm -rf "$DIR"' EXIT
until curl -sf "http://$REST/readyz" >/dev/null 2>&1; do sleep 0.05; done
tick=$(getconf CLK_TCK)
cpu() { awk '{print $14+$15}' /proc/$PID/stat; }
for signal in traces logs metrics; do
  a=$(cpu)
  load=$( { /usr/bin/time -f "%U %S" "$TAEL" bench ingest --signal $signal --endpoint http://$GRPC \
      --batch 1000 --concurrency 4 --requests 600 --llm-ratio 0 >"$DIR/$signal.json"; } 2>&1 | tail -1)
  sleep 4
  b=$(cpu)
  items=$(python3 -c "import json; print(json.load(open('$DIR/$signal.json'))['items'])")
  echo "$signal items=$items server_us_per_item=$(echo "scale=2; ($b-$a)/$tick*1000000/$items" | bc) load_us_per_item=$(echo "$load" | awk -v n=$items '{printf "%.2f", ($1+$2)*1000000/n}')"
done
grep VmHWM /proc/$PID/status
