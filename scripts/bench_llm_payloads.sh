#!/usr/bin/env bash
# LLM-span ingest with distinct and with reused payloads, each on a fresh
# server: 500k spans, one LLM span per trace (--llm-ratio 1: 8% of the
# spans) with a 1-8 KiB prompt and completion each, batch 1000 x 4 over
# gRPC. Prints one JSON line per mode: the load tool's report, the share
# of LLM spans stored, and the server's storage counters after the run.
# Usage: scripts/bench_llm_payloads.sh [path to a release tael binary]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/tael.sh
TAEL=$(release_tael "${1:-}")
REST=127.0.0.1:27801 GRPC=127.0.0.1:24417
for mode in distinct reused; do
  DIR=$(mktemp -d /tmp/tael-llm-bench.XXXXXX)
  "$TAEL" serve --quiet --data-dir "$DIR" --rest-api-addr $REST --otlp-grpc-addr $GRPC \
    --otlp-http-addr off 2>>"$DIR/server.log" &
  PID=$!
  until curl -sf "http://$REST/readyz" >/dev/null 2>&1; do sleep 0.05; done
  res=$("$TAEL" bench ingest --endpoint http://$GRPC --batch 1000 --concurrency 4 \
    --requests 500 --llm-ratio 1 --payloads $mode | tr -d '\n')
  stats=$(curl -sf "http://$REST/api/v1/stats" | tr -d '\n')
  share=$(curl -sfG "http://$REST/api/v1/sql" --data-urlencode \
    "q=SELECT avg(CASE WHEN llm_model IS NULL THEN 0.0 ELSE 1.0 END) AS llm_share FROM spans" | tr -d '\n')
  echo "{\"payloads\":\"$mode\",\"bench\":$res,\"llm_share\":$share,\"stats\":$stats}"
  kill -TERM "$PID"; wait "$PID" || true
  rm -rf "$DIR"
done
