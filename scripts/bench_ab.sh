#!/usr/bin/env bash
# One A/B sample of a server binary: a fresh data dir, 2 x 500k spans with
# one LLM call per trace (`--seed 1`, then `--seed 2`), a wait for the last
# flush, then `tael bench query --runs 20`; appends one JSON line (ingest
# reports, query report, the server's peak RSS) to OUT.
# The load and query tool is TOOL (default: the server binary), so two
# servers can be measured with the same tool. Alternate the binaries:
#   for i in 1 2 3 4 5; do scripts/bench_ab.sh /tmp/tael-a a out.jsonl; scripts/bench_ab.sh /tmp/tael-b b out.jsonl; done
# usage: scripts/bench_ab.sh SERVER_BIN LABEL OUT
set -euo pipefail
BIN=$1; LABEL=$2; OUT=$3; TOOL=${TOOL:-$BIN}
DIR=$(mktemp -d /tmp/tael-ab.XXXXXX)
REST=127.0.0.1:28001 GRPC=127.0.0.1:24617 HTTP=127.0.0.1:24618
"$BIN" serve --quiet --data-dir "$DIR/data" --rest-api-addr $REST --otlp-grpc-addr $GRPC --otlp-http-addr $HTTP 2>"$DIR/server.log" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
until curl -sf http://$REST/readyz >/dev/null 2>&1; do sleep 0.05; done
ingest() {
  "$TOOL" bench ingest --endpoint http://$GRPC --batch 1000 --concurrency 4 --requests 500 --llm-ratio 1.0 --seed "$1" | tr -d '\n'
}
i1=$(ingest 1)
i2=$(ingest 2)
sleep 35 # the last flush (30 s interval) lands before the queries
q=$("$TOOL" bench query --server http://$REST --runs 20 | tr -d '\n')
hwm=$(awk '/VmHWM/ {print $2}' /proc/$PID/status)
kill -TERM $PID; wait $PID || true
echo "{\"label\":\"$LABEL\",\"peak_rss_kib\":$hwm,\"ingest1\":$i1,\"ingest2\":$i2,\"query\":$q}" >> "$OUT"
