#!/usr/bin/env bash
# tael beside peers, the same work in one run on this machine (each store
# fresh, one at a time, the load tool on the same cores):
#
# 1. Metrics: the same remote-write 1.0 samples to tael, Prometheus and
#    VictoriaMetrics (`tael bench series --protocol remote-write`: SERIES
#    counters, one sample per 15 s over the hour ending at the same instant
#    for all three, 2000 samples per request, 4 senders); samples/s as
#    acknowledged. Then the same PromQL (two instant, two range queries)
#    against each one's /api/v1/query[_range]: median latency over RUNS
#    runs and what was answered (series, samples, their sum) to compare;
#    tael twice: right after the load, and after a restart (everything in
#    Parquet parts).
# 2. LLM traces: the same OTLP/HTTP protobuf traces to tael and to Arize
#    Phoenix (`tael bench ingest --protocol http --llm-ratio 1`: one LLM
#    span with a distinct 1-8 KiB prompt and completion per trace, batch
#    1000 x 4, SPANS spans); spans/s until every span is stored (Phoenix
#    acknowledges before it stores, so its database is counted), and disk
#    per span after a graceful stop.
#
# Prints one JSON document: each store's figures and the ratios
# peer / tael (for latency and disk, lower is better; for throughput,
# higher is better).
#
# Needs: prometheus and victoria-metrics (Debian packages), arize-phoenix
# (PyPI; installed into the venv $PHOENIX_VENV when missing), jq, curl.
# Usage: scripts/bench_peers.sh [path to a release tael binary]
# Env: SERIES (default 10000), RUNS (20), SPANS (20000).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/tael.sh
TAEL=$(release_tael "${1:-}")
SERIES=${SERIES:-10000} RUNS=${RUNS:-20} SPANS=${SPANS:-20000}
PHOENIX_VENV=${PHOENIX_VENV:-$HOME/.cache/phoenix-venv}
for cmd in prometheus victoria-metrics jq curl; do
  command -v "$cmd" >/dev/null || { echo "bench_peers: $cmd is not installed" >&2; exit 1; }
done
if [ ! -x "$PHOENIX_VENV/bin/phoenix" ]; then
  python3 -m venv "$PHOENIX_VENV"
  "$PHOENIX_VENV/bin/pip" install -q arize-phoenix
fi

WORK=$(mktemp -d /tmp/tael-peers.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_http() { # URL: until it answers 2xx (60 s at most)
  for _ in $(seq 600); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "bench_peers: $1 did not come up" >&2; exit 1
}
stop() { # PID: a graceful stop
  kill -TERM "$1"; wait "$1" 2>/dev/null || true
}
start_tael() { # DIR REST GRPC HTTP
  "$TAEL" serve --quiet --data-dir "$1" --rest-api-addr "$2" --otlp-grpc-addr "$3" \
    --otlp-http-addr "$4" 2>>"$1.log" &
  PIDS+=($!); PID=$!
  wait_http "http://$2/readyz"
}

END=$(date +%s)
series() { # WRITE_URL QUERY_BASE: load, then time the queries
  "$TAEL" bench series --protocol remote-write --endpoint "$1" --server "$2" \
    --series "$SERIES" --end "$END" --concurrency 4 --runs "$RUNS" --skip-queries | tr -d '\n'
}
queries() { # QUERY_BASE
  "$TAEL" bench series --server "$1" --series "$SERIES" --end "$END" --runs "$RUNS" \
    --skip-load | jq -c '.results'
}

# --- 1. remote-write and PromQL -------------------------------------------
REST=127.0.0.1:27811
start_tael "$WORK/tael-m" $REST 127.0.0.1:24427 off
tael_load=$(series "http://$REST/api/v1/write" "http://$REST")
tael_q=$(queries "http://$REST")
# A graceful stop flushes the memtables: the same queries over parts only
# (the first run of each also fills the part series cache).
stop "$PID"
start_tael "$WORK/tael-m" $REST 127.0.0.1:24427 off
tael_parts_q=$(queries "http://$REST")
stop "$PID"

PROM=127.0.0.1:29091
printf 'global:\n  scrape_interval: 15s\n' >"$WORK/prometheus.yml"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
  --web.listen-address=$PROM --web.enable-remote-write-receiver \
  >"$WORK/prom.log" 2>&1 &
PIDS+=($!); PID=$!
wait_http "http://$PROM/-/ready"
prom_load=$(series "http://$PROM/api/v1/write" "http://$PROM")
prom_q=$(queries "http://$PROM")
stop "$PID"

VM=127.0.0.1:28429
# latencyOffset 0: answer up to the last sample, as tael and Prometheus do.
victoria-metrics -storageDataPath="$WORK/vm" -httpListenAddr=$VM \
  -search.latencyOffset=0s >"$WORK/vm.log" 2>&1 &
PIDS+=($!); PID=$!
wait_http "http://$VM/health"
vm_load=$(series "http://$VM/api/v1/write" "http://$VM")
# Samples become searchable after VictoriaMetrics' in-memory buffers flush.
curl -sf "http://$VM/internal/force_flush" >/dev/null
vm_q=$(queries "http://$VM")
stop "$PID"

# --- 2. OTLP/HTTP LLM traces ------------------------------------------------
REQUESTS=$(( (SPANS + 999) / 1000 ))
ingest() { # OTLP_HTTP_BASE
  "$TAEL" bench ingest --protocol http --endpoint "$1" --batch 1000 --concurrency 4 \
    --requests "$REQUESTS" --llm-ratio 1 --payloads distinct | tr -d '\n'
}
HTTP=127.0.0.1:24428
start_tael "$WORK/tael-t" $REST 127.0.0.1:24427 $HTTP
t0=$(date +%s.%N)
tael_ingest=$(ingest "http://$HTTP")
tael_stored=$(curl -sfG "http://$REST/api/v1/sql" --data-urlencode "q=SELECT count(*) AS n FROM spans" | jq '.rows[0].n')
t1=$(date +%s.%N)
stop "$PID"
tael_disk=$(du -sb "$WORK/tael-t" | cut -f1)

PHX=127.0.0.1:26016
mkdir -p "$WORK/phoenix"
PHOENIX_WORKING_DIR="$WORK/phoenix" PHOENIX_HOST=127.0.0.1 PHOENIX_PORT=${PHX#*:} \
  PHOENIX_GRPC_PORT=24343 "$PHOENIX_VENV/bin/phoenix" serve >"$WORK/phoenix.log" 2>&1 &
PIDS+=($!); PID=$!
wait_http "http://$PHX/healthz"
p0=$(date +%s.%N)
phx_ingest=$(ingest "http://$PHX")
sent=$(jq '.items' <<<"$phx_ingest")
phx_count() {
  "$PHOENIX_VENV/bin/python" -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from spans').fetchone()[0])" "$WORK/phoenix/phoenix.db"
}
# Until every span is stored, or no progress for 60 s.
last=-1 still=0
while :; do
  n=$(phx_count)
  [ "$n" -ge "$sent" ] && break
  if [ "$n" -eq "$last" ]; then still=$((still + 1)); else still=0; last=$n; fi
  [ "$still" -ge 60 ] && break
  sleep 1
done
p1=$(date +%s.%N)
phx_stored=$(phx_count)
stop "$PID"
phx_disk=$(du -sb "$WORK/phoenix" | cut -f1)

jq -n \
  --argjson tael_load "$tael_load" --argjson prom_load "$prom_load" --argjson vm_load "$vm_load" \
  --argjson tael_q "$tael_q" --argjson tael_parts_q "$tael_parts_q" --argjson prom_q "$prom_q" --argjson vm_q "$vm_q" \
  --argjson tael_ingest "$tael_ingest" --argjson phx_ingest "$phx_ingest" \
  --argjson tael_stored "$tael_stored" --argjson phx_stored "$phx_stored" \
  --argjson tael_s "$(echo "$t1 - $t0" | bc -l)" --argjson phx_s "$(echo "$p1 - $p0" | bc -l)" \
  --argjson tael_disk "$tael_disk" --argjson phx_disk "$phx_disk" \
  --arg prom_version "$(prometheus --version 2>&1 | head -1)" \
  --arg vm_version "$(dpkg-query -W -f='${Version}' victoria-metrics 2>/dev/null)" \
  --arg phx_version "$("$PHOENIX_VENV/bin/pip" show arize-phoenix 2>/dev/null | awk '/^Version/ {print $2}')" \
  --arg tael_version "$("$TAEL" --version)" '
  def answer(r): r | {result_series, result_samples, result_sum};
  def ratio(a; b): if b > 0 then a / b else null end;
  {
    versions: {tael: $tael_version, prometheus: $prom_version,
               victoriametrics: $vm_version, phoenix: $phx_version},
    remote_write: {
      samples: $tael_load.loaded_points,
      samples_per_s: {tael: $tael_load.load_points_per_s,
                      prometheus: $prom_load.load_points_per_s,
                      victoriametrics: $vm_load.load_points_per_s},
      ratio_to_tael: {prometheus: ratio($prom_load.load_points_per_s; $tael_load.load_points_per_s),
                      victoriametrics: ratio($vm_load.load_points_per_s; $tael_load.load_points_per_s)}
    },
    promql: [range($tael_q | length) as $i | {
      query: ($tael_q[$i].query | map(select(.[0] == "query"))[0][1]), path: $tael_q[$i].path,
      median_ms: {tael: $tael_q[$i].median_ms, tael_parts_only: $tael_parts_q[$i].median_ms,
                  prometheus: $prom_q[$i].median_ms, victoriametrics: $vm_q[$i].median_ms},
      latency_ratio_to_tael: {prometheus: ratio($prom_q[$i].median_ms; $tael_q[$i].median_ms),
                              victoriametrics: ratio($vm_q[$i].median_ms; $tael_q[$i].median_ms)},
      answered: {tael: answer($tael_q[$i]), tael_parts_only: answer($tael_parts_q[$i]),
                 prometheus: answer($prom_q[$i]), victoriametrics: answer($vm_q[$i])}
    }],
    llm_traces: {
      spans_sent: {tael: $tael_ingest.items, phoenix: $phx_ingest.items},
      stored: {tael: $tael_stored, phoenix: $phx_stored},
      spans_per_s_until_stored: {tael: ($tael_stored / $tael_s), phoenix: ($phx_stored / $phx_s)},
      acked_spans_per_s: {tael: $tael_ingest.items_per_sec, phoenix: $phx_ingest.items_per_sec},
      disk_bytes_per_span: {tael: ($tael_disk / $tael_stored), phoenix: ($phx_disk / $phx_stored)},
      ratio_to_tael: {spans_per_s: ratio($phx_stored / $phx_s; $tael_stored / $tael_s),
                      disk_per_span: ratio($phx_disk / $phx_stored; $tael_disk / $tael_stored)}
    }
  }'
