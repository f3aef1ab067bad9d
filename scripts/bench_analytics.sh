#!/usr/bin/env bash
# Analytics and query-language benchmarks (issue 3 targets), on this machine.
# Usage: scripts/bench_analytics.sh [out.jsonl] [path to a release tael binary]
# Starts `tael serve` (release) on a fresh data dir, stores 1M spans (plus
# logs), times summary / anomalies / diff / topology / SQL through REST with
# the server's peak RSS, then backfills 10k counter series (1h at 15s) and
# times PromQL instant and range queries. One JSON object per measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/rss.sh
OUT=${1:-/tmp/tael-bench-analytics.jsonl}
: > "$OUT"
. scripts/lib/tael.sh
TAEL=$(release_tael "${2:-}")
DIR=$(mktemp -d /tmp/tael-bench-an.XXXXXX)
REST=127.0.0.1:27701 GRPC=127.0.0.1:24317 HTTP=127.0.0.1:24318

"$TAEL" serve --quiet --data-dir "$DIR" --rest-api-addr $REST --otlp-grpc-addr $GRPC --otlp-http-addr $HTTP 2>>"$DIR/server.log" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
until curl -sf "http://$REST/readyz" >/dev/null 2>&1; do sleep 0.05; done

measure() { # label, then a command whose JSON output is the result
  local label=$1; shift
  local flag="$DIR/done.$label"
  peak_rss "$PID" "$flag" > "$DIR/rss.$label" &
  local watcher=$!
  local res=$("$@" | tr -d '\n')
  touch "$flag"; wait $watcher
  echo "{\"measure\":\"$label\",\"args\":\"${*:2}\",\"server_peak_rss_kib\":$(cat "$DIR/rss.$label"),\"result\":$res}" | tee -a "$OUT"
}

measure ingest_spans "$TAEL" bench ingest --endpoint http://$GRPC --batch 1000 --concurrency 4 --requests 1000 --llm-ratio 0
measure ingest_logs "$TAEL" bench ingest --signal logs --endpoint http://$GRPC --batch 1000 --concurrency 4 --requests 300 --link-traces 20000
# Let the memtables flush, so queries read Parquet parts as well.
sleep 35
measure queries_1m_spans "$TAEL" bench query --server http://$REST --runs 20
measure promql_10k_series "$TAEL" bench series --endpoint http://$GRPC --server http://$REST --series 10000 --interval 15s --duration 1h --runs 20
sleep 35
measure promql_10k_series_flushed "$TAEL" bench series --server http://$REST --series 10000 --skip-load --runs 20
