#!/usr/bin/env bash
# Memory under ingest, on one fresh server: 1M spans (no LLM payloads),
# then 1M log records, then 1M metric points, then 1M of each sent at the
# same time; batch 1000 x 4 over gRPC for each stream. Prints one JSON line
# per phase: the server's peak VmRSS during it and the peak of its
# anonymous part, RssAnon, which the memory budget bounds (both sampled
# every 50 ms), the process high-water mark (VmHWM) after it, and the load
# tool's report.
# Extra arguments are environment settings for the server
# (e.g. TAEL_MEMTABLE_BYTES=32MiB MIMALLOC_PURGE_DELAY=250).
# Usage: scripts/bench_memory.sh [path to a release tael binary] [NAME=value ...]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/rss.sh
TAEL=${1:-}
shift || true
. scripts/lib/tael.sh
TAEL=$(release_tael "$TAEL")
REST=127.0.0.1:27901 GRPC=127.0.0.1:24517
DIR=$(mktemp -d /tmp/tael-mem-bench.XXXXXX)
env "$@" "$TAEL" serve --quiet --data-dir "$DIR" --rest-api-addr $REST \
  --otlp-grpc-addr $GRPC --otlp-http-addr off 2>>"$DIR/server.log" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
until curl -sf "http://$REST/readyz" >/dev/null 2>&1; do sleep 0.05; done

load() { # signal seed
  "$TAEL" bench ingest --endpoint http://$GRPC --signal "$1" --batch 1000 --concurrency 4 \
    --requests 1000 --llm-ratio 0 --seed "$2" | tr -d '\n'
}
phase() { # label, first seed, then the signals to send at once
  local label=$1 seed=$2; shift 2
  local flag="$DIR/done.$label" pids=() i=0
  peak_rss "$PID" "$flag" > "$DIR/rss.$label" &
  local watcher=$!
  peak_rss "$PID" "$flag" 0.05 RssAnon > "$DIR/anon.$label" &
  local anon_watcher=$!
  for s in "$@"; do
    load "$s" $((seed + i)) > "$DIR/res.$label.$s" & pids+=($!); i=$((i + 1))
  done
  for p in "${pids[@]}"; do wait "$p"; done
  touch "$flag"; wait $watcher $anon_watcher
  local hwm=$(awk '/VmHWM/{print $2}' /proc/$PID/status)
  local res=""
  for s in "$@"; do res="$res\"$s\":$(cat "$DIR/res.$label.$s"),"; done
  echo "{\"phase\":\"$label\",\"peak_rss_kib\":$(cat "$DIR/rss.$label"),\"peak_anon_kib\":$(cat "$DIR/anon.$label"),\"hwm_kib\":$hwm,\"bench\":{${res%,}}}"
}
phase traces 1 traces
phase logs 2 logs
phase metrics 3 metrics
phase all 4 traces logs metrics
