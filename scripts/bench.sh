#!/usr/bin/env bash
# Whole-system benchmarks with the load tool (`tael bench`), on this machine.
# Usage: scripts/bench.sh [out.jsonl] [path to a release tael binary]
# Builds the release binary, starts `tael serve` on a fresh data dir, and
# prints one JSON object per measurement (also appended to out.jsonl).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/rss.sh
OUT=${1:-/tmp/tael-bench.jsonl}
: > "$OUT"
. scripts/lib/tael.sh
TAEL=$(release_tael "${2:-}")
DIR=$(mktemp -d /tmp/tael-bench.XXXXXX)
REST=127.0.0.1:27701 GRPC=127.0.0.1:24317 HTTP=127.0.0.1:24318
PID=

start() {
  "$TAEL" serve --quiet --data-dir "$DIR" --rest-api-addr $REST --otlp-grpc-addr $GRPC --otlp-http-addr $HTTP 2>>"$DIR/server.log" &
  PID=$!
  local t0=$(date +%s.%N)
  until curl -sf "http://$REST/readyz" >/dev/null 2>&1; do sleep 0.02; done
  local t1=$(date +%s.%N)
  echo "{\"measure\":\"ready_after_start_s\",\"value\":$(printf "%.3f" "$(echo "$t1 - $t0" | bc)")}" | tee -a "$OUT"
}
stop() { kill -TERM "$PID"; wait "$PID" || true; }
ingest() { # label, then bench args
  local label=$1; shift
  local done_flag="$DIR/done.$label"
  peak_rss "$PID" "$done_flag" 0.2 > "$DIR/rss.$label" &
  local watcher=$!
  local res=$("$TAEL" bench ingest "$@")
  touch "$done_flag"; wait $watcher
  echo "{\"measure\":\"ingest\",\"label\":\"$label\",\"args\":\"$*\",\"peak_rss_kib\":$(cat "$DIR/rss.$label"),\"result\":$(echo "$res" | tr -d '\n')}" | tee -a "$OUT"
}

start
# 1M spans without LLM payloads, batch 1000 x 4, gRPC.
ingest traces_nollm_grpc --endpoint http://$GRPC --batch 1000 --concurrency 4 --requests 1000 --llm-ratio 0
# Logs linked to those traces; metrics.
ingest logs_grpc --signal logs --endpoint http://$GRPC --batch 1000 --concurrency 4 --requests 300 --link-traces 20000
ingest metrics_grpc --signal metrics --endpoint http://$GRPC --batch 1000 --concurrency 4 --requests 300
SPANS=$(curl -s "http://$REST/api/v1/services" | python3 -c 'import json,sys; print(sum(s["span_count"] for s in json.load(sys.stdin)["services"]))')
stop
echo "{\"measure\":\"disk_bytes_per_span\",\"value\":$(( $(du -sb "$DIR/spans" | cut -f1) / SPANS )),\"spans\":$SPANS,\"note\":\"spans parts + rollups after flush, no LLM payloads\"}" | tee -a "$OUT"
start
"$TAEL" bench query --server http://$REST --runs 50 | tr -d '\n' | sed 's/^/{"measure":"query_latency","result":/; s/$/}\n/' | tee -a "$OUT"
# Ingest rates of the other mixes, on top of what is stored.
ingest traces_llm_grpc --endpoint http://$GRPC --batch 1000 --concurrency 4 --requests 200 --llm-ratio 0.2 --seed 2
ingest traces_batch100_grpc --endpoint http://$GRPC --batch 100 --concurrency 4 --requests 2000 --llm-ratio 0 --seed 3
ingest traces_nollm_http --protocol http --endpoint http://$HTTP --batch 1000 --concurrency 4 --requests 200 --llm-ratio 0 --seed 4
ingest traces_nollm_http_json_gzip --protocol http --json --gzip --endpoint http://$HTTP --batch 1000 --concurrency 4 --requests 100 --llm-ratio 0 --seed 5
# Crash restart: SIGKILL with an unflushed memtable, then time until ready
# (WAL replay included).
"$TAEL" bench ingest --endpoint http://$GRPC --batch 1000 --concurrency 4 --requests 50 --llm-ratio 0 --seed 6 >/dev/null
kill -KILL "$PID"; wait "$PID" 2>/dev/null || true
echo "{\"measure\":\"wal_bytes_before_crash_restart\",\"value\":$(du -sb "$DIR/wal" | cut -f1)}" | tee -a "$OUT"
start
stop
echo "data dir: $DIR (remove when done)" >&2
