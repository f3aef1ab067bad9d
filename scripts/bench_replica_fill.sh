#!/usr/bin/env bash
# A replica of a shard filled from the object store, on this machine:
# etcd and moto's S3 server (PyPI `moto[server]`, in the venv of
# $TAEL_MOTO_VENV, default ~/.cache/tael/moto-venv) on loopback. A leader
# gets 2M spans at batch 1000 x 4 over gRPC with the 20% LLM mix (distinct
# payloads) and uploads its copy; it is restarted (a graceful stop leaves
# its WAL empty, so a new replica cannot be filled from the WAL alone) and
# writes its copy again at its new epoch, timed; then a replica with an
# empty data dir joins: the seconds its fill from the store took, per GB,
# and until it holds every record. Prints one JSON line.
# Usage: scripts/bench_replica_fill.sh [path to a release tael binary]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/tael.sh
TAEL=$(release_tael "${1:-}")
VENV=${TAEL_MOTO_VENV:-$HOME/.cache/tael/moto-venv}
S3=127.0.0.1:29021 ETCD=127.0.0.1:18479
WORK=$(mktemp -d /tmp/tael-fill-bench.XXXXXX)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
"$VENV/bin/moto_server" -H 127.0.0.1 -p 29021 >"$WORK/moto.log" 2>&1 &
PIDS+=($!)
etcd --name f --data-dir "$WORK/etcd" --listen-client-urls http://$ETCD \
  --advertise-client-urls http://$ETCD --listen-peer-urls http://127.0.0.1:18480 \
  --initial-advertise-peer-urls http://127.0.0.1:18480 --initial-cluster f=http://127.0.0.1:18480 \
  >"$WORK/etcd.log" 2>&1 &
PIDS+=($!)
until curl -sf "http://$S3/" >/dev/null 2>&1; do sleep 0.1; done
until curl -sf "http://$ETCD/health" >/dev/null 2>&1; do sleep 0.1; done
curl -sf -X PUT "http://$S3/bench" >/dev/null
export AWS_ENDPOINT_URL=http://$S3 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
export TAEL_ETCD_ENDPOINTS=http://$ETCD TAEL_CLUSTER_TOKEN=bench-cluster-token-0123456789
export TAEL_OBJECT_STORE=s3://bench/cluster TAEL_LEADER_LEASE=2s

now() { date +%s.%N; }
since() { python3 -c "print(round($(now) - $1, 2))"; }
cluster() { curl -sf -H "authorization: Bearer $TAEL_CLUSTER_TOKEN" "http://$1/internal/cluster"; }
field() { python3 -c "import json,sys; v=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
start() { # node, rest, grpc
  TAEL_NODE_ID=$1 "$TAEL" serve --quiet --data-dir "$WORK/$1" --rest-api-addr "$2" \
    --otlp-grpc-addr "$3" --otlp-http-addr off --flush-interval 5s 2>>"$WORK/$1.log" &
  PID=$!
  PIDS+=($PID)
  until cluster "$2" >/dev/null 2>&1; do sleep 0.05; done
}
leads() { [ "$(cluster "$1" | field 'v["role"]')" = leader ]; }
uploaded() { # rest: the store holds the leader's copy at its epoch
  curl -sf "http://$1/api/v1/stats" | python3 -c '
import json,sys; s=json.load(sys.stdin)["storage"]; o=s["object_store"]; r=o.get("replica") or {}
sys.exit(0 if s["memtable_rows"]==0 and o["pending"]==0 and r.get("leading") and r.get("stored_flushed_seq") else 1)'
}

A=127.0.0.1:27951 B=127.0.0.1:27952
start a $A 127.0.0.1:24951
until leads $A; do sleep 0.1; done
load=$("$TAEL" bench ingest --endpoint http://127.0.0.1:24951 --batch 1000 --concurrency 4 \
  --requests 2000 --llm-ratio 0.2 --seed 11 | tr -d '\n')
until uploaded $A; do sleep 0.2; done
kill -TERM "$PID"; wait "$PID" || true
t0=$(now)
start a $A 127.0.0.1:24951
until leads $A; do sleep 0.1; done
until uploaded $A; do sleep 0.2; done
rewrite=$(since "$t0")
store_bytes=$(curl -sf "http://$S3/bench?list-type=2&prefix=cluster/" | python3 -c '
import re,sys; print(sum(int(x) for x in re.findall(r"<Size>(\d+)</Size>", sys.stdin.read())))')
t0=$(now)
start b $B 127.0.0.1:24952
ready=$(since "$t0")
leader_seq=$(cluster $A | field 'v["applied_seq"]')
until [ "$(cluster $B | field 'v["applied_seq"]')" = "$leader_seq" ]; do sleep 0.05; done
caught_up=$(since "$t0")
filled=$(cluster $B | field 'json.dumps(v.get("filled"))')
echo "{\"load\":$load,\"store_bytes\":$store_bytes,\"leader_rewrite_after_restart_s\":$rewrite,\"filled\":$filled,\"listening_after_s\":$ready,\"caught_up_after_s\":$caught_up,\"fill_s_per_gb\":$(echo "$filled" | field 'round(v["secs"] / (v["bytes"] / 1e9), 1)')}"
