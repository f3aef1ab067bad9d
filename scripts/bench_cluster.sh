#!/usr/bin/env bash
# Replica benchmarks, every process on this machine (2 cores shared by the
# leader, its standbys, etcd and the load tool: the figures are lower
# bounds of what separate machines give).
# Usage: [TAEL_BIN=path to a release tael binary] scripts/bench_cluster.sh [out.jsonl]
#  1. ingest, traces at batch 1000 x 4, with 0, 1 and 2 synchronous
#     standbys (static mode, TAEL_WAL_REQUIRED_ACKS=all);
#  2. failover: SIGKILL the leader of three replicas on etcd (lease 2s)
#     while a client writes every 20 ms; the time to the first write acked
#     by the new leader, five drills;
#  3. catch-up: a standby stopped while the leader takes 200 requests of
#     1000 spans, then started; the time until it holds every record.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/tael-bench-cluster.jsonl}
: > "$OUT"
if [ -z "${TAEL_BIN:-}" ]; then
  cargo build --release -p tael-cli >/dev/null
  TAEL_BIN=$PWD/target/release/tael
fi
export TAEL_CLUSTER_TOKEN=bench-cluster-token-0123456789
AUTH="authorization: Bearer $TAEL_CLUSTER_TOKEN"
DIR=$(mktemp -d /tmp/tael-bench-cluster.XXXXXX)
PIDS=()
cleanup() { kill -9 "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

now() { date +%s.%N; }
emit() { echo "$1" | tee -a "$OUT"; }
wait_http() { until curl -sf "$1" >/dev/null 2>&1; do sleep 0.02; done; }
serve() { # name rest grpc [env...]
  local name=$1 rest=$2 grpc=$3; shift 3
  mkdir -p "$(dirname "$DIR/$name")"
  env "$@" "$TAEL_BIN" serve --quiet --data-dir "$DIR/$name" --rest-api-addr "$rest" \
    --otlp-grpc-addr "$grpc" --otlp-http-addr off 2>>"$DIR/$name.log" &
  PIDS+=($!)
  LAST=$!
  wait_http "http://$rest/healthz"
}
applied() { curl -sf -H "$AUTH" "http://$1/internal/cluster" | jq -r .applied_seq; }
state_count() { curl -sf -H "$AUTH" "http://$1/internal/cluster" | jq "[.standbys[] | select(.state == \"in_sync\")] | length"; }

# 1. Ingest with 0, 1, 2 synchronous standbys.
for n in 0 1 2; do
  standbys=()
  for i in $(seq 1 "$n"); do
    serve "ingest-$n/s$i" 127.0.0.1:1880$i 127.0.0.1:1890$i TAEL_WAL_LEADER=http://127.0.0.1:18800
    standbys+=(http://127.0.0.1:1880$i)
  done
  if [ "$n" = 0 ]; then
    serve "ingest-$n/leader" 127.0.0.1:18800 127.0.0.1:18900
  else
    serve "ingest-$n/leader" 127.0.0.1:18800 127.0.0.1:18900 \
      TAEL_WAL_STANDBYS="$(IFS=,; echo "${standbys[*]}")"
    until [ "$(state_count 127.0.0.1:18800)" = "$n" ]; do sleep 0.1; done
  fi
  result=$("$TAEL_BIN" bench ingest --endpoint http://127.0.0.1:18900 --signal traces \
    --batch 1000 --concurrency 4 --requests 300 --seed $((7 + n)))
  emit "$(jq -c --arg n "$n" '{measure: "ingest_traces", sync_standbys: ($n|tonumber), items_per_sec, latency_ms, errors}' <<<"$result")"
  cleanup; PIDS=()
done

# 2. Failover, five drills.
etcd_start() {
  etcd --name b --data-dir "$DIR/etcd-$1" --listen-client-urls http://127.0.0.1:18379 \
    --advertise-client-urls http://127.0.0.1:18379 --listen-peer-urls http://127.0.0.1:18380 \
    --initial-advertise-peer-urls http://127.0.0.1:18380 --initial-cluster b=http://127.0.0.1:18380 \
    >"$DIR/etcd-$1.log" 2>&1 &
  PIDS+=($!)
  wait_http http://127.0.0.1:18379/health
}
span_json() { # a one-span OTLP/JSON export with a fresh trace id
  local t; t=$(date +%s%N)
  printf '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"drill"}}]},"scopeSpans":[{"spans":[{"traceId":"%032x","spanId":"%016x","name":"probe","kind":2,"startTimeUnixNano":"%s","endTimeUnixNano":"%s"}]}]}]}' \
    "$t" "$t" "$t" "$((t + 1000000))"
}
for drill in 1 2 3 4 5; do
  etcd_start "$drill"
  declare -A PID_OF=()
  for i in 1 2 3; do
    serve "failover-$drill/r$i" 127.0.0.1:1881$i 127.0.0.1:1891$i \
      TAEL_ETCD_ENDPOINTS=http://127.0.0.1:18379 TAEL_NODE_ID=r$i TAEL_LEADER_LEASE=2s
    PID_OF[$i]=$LAST
  done
  leader=
  until [ -n "$leader" ]; do
    for i in 1 2 3; do
      [ "$(curl -sf -H "$AUTH" http://127.0.0.1:1881$i/internal/cluster | jq -r .role)" = leader ] && leader=$i
    done
    sleep 0.1
  done
  until [ "$(state_count 127.0.0.1:1881$leader)" = 2 ]; do sleep 0.1; done
  killed=$(now)
  kill -9 "${PID_OF[$leader]}"
  acked=
  until [ -n "$acked" ]; do
    for i in 1 2 3; do
      [ "$i" = "$leader" ] && continue
      code=$(span_json | curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
        --data-binary @- "http://127.0.0.1:1881$i/v1/traces" || true)
      if [ "$code" = 200 ]; then acked=$(now); break; fi
    done
    [ -z "$acked" ] && sleep 0.02
  done
  emit "{\"measure\":\"failover_first_ack_s\",\"drill\":$drill,\"lease_s\":2,\"value\":$(echo "$acked - $killed" | bc)}"
  cleanup; PIDS=()
done

# 3. Catch-up.
serve catchup/s1 127.0.0.1:18821 127.0.0.1:18921 TAEL_WAL_LEADER=http://127.0.0.1:18820
standby_pid=$LAST
serve catchup/leader 127.0.0.1:18820 127.0.0.1:18920 TAEL_WAL_STANDBYS=http://127.0.0.1:18821 TAEL_FLUSH_INTERVAL=1h TAEL_MEMTABLE_BYTES=1GiB
until [ "$(state_count 127.0.0.1:18820)" = 1 ]; do sleep 0.1; done
kill -TERM "$standby_pid"; wait "$standby_pid" || true
"$TAEL_BIN" bench ingest --endpoint http://127.0.0.1:18920 --signal traces --batch 1000 --concurrency 4 --requests 200 --seed 11 >/dev/null
target=$(applied 127.0.0.1:18820)
from=$(now)
serve catchup/s1 127.0.0.1:18821 127.0.0.1:18921 TAEL_WAL_LEADER=http://127.0.0.1:18820
until [ "$(applied 127.0.0.1:18821)" -ge "$target" ]; do sleep 0.05; done
took=$(echo "$(now) - $from" | bc)
bytes=$(du -sb "$DIR/catchup/leader/wal" | cut -f1)
emit "{\"measure\":\"catch_up\",\"records\":$target,\"spans\":200000,\"wal_bytes\":$bytes,\"seconds\":$took,\"records_per_sec\":$(echo "$target / $took" | bc),\"spans_per_sec\":$(echo "200000 / $took" | bc)}"
