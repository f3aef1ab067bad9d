#!/usr/bin/env bash
# The query and ingest tiers beside a single node, all on this machine
# (2 shards, an ingest node, a query node and the single node share its
# cores). Each side gets the same load: 500k spans at batch 1000 x 4 over
# gRPC with the 20% LLM mix (distinct payloads), into the single node and
# through the ingest node. Then the hot REST routes are timed (`tael bench
# query`, 50 runs each) on the single node and through the query node.
# Prints one JSON line per measurement.
# Usage: scripts/bench_tiers.sh [path to a release tael binary]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/tael.sh
TAEL=$(release_tael "${1:-}")
WORK=$(mktemp -d /tmp/tael-tiers-bench.XXXXXX)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

start() { # name, rest port, grpc port, extra flags...
  local name=$1 rest=$2 grpc=$3; shift 3
  "$TAEL" serve --quiet --data-dir "$WORK/$name" --rest-api-addr 127.0.0.1:$rest \
    --otlp-grpc-addr 127.0.0.1:$grpc --otlp-http-addr off "$@" 2>>"$WORK/$name.log" &
  PIDS+=($!)
  until curl -sf "http://127.0.0.1:$rest/readyz" >/dev/null 2>&1; do sleep 0.05; done
}
settled() { # rest port: nothing left unflushed
  curl -sf "http://127.0.0.1:$1/api/v1/stats" | python3 -c '
import json,sys; s=json.load(sys.stdin)["storage"]; sys.exit(0 if s["memtable_rows"]==0 else 1)'
}

start single 27901 24901 --flush-interval 5s
start shard0 27911 24911 --flush-interval 5s
start shard1 27912 24912 --flush-interval 5s
SHARDS=http://127.0.0.1:27911,http://127.0.0.1:27912
start ingest 27921 24921 --role ingest --shards $SHARDS
start query 27931 24931 --role query --shards $SHARDS

load() { # label, grpc port
  local res
  res=$("$TAEL" bench ingest --endpoint http://127.0.0.1:$2 --batch 1000 --concurrency 4 \
    --requests 500 --llm-ratio 0.2 --seed 11 | tr -d '\n')
  echo "{\"measure\":\"ingest\",\"through\":\"$1\",\"bench\":$res}"
}
load single 24901
load ingest_tier 24921
for port in 27901 27911 27912; do
  until settled $port; do sleep 0.2; done
done

for side in single:27901 query_tier:27931; do
  res=$("$TAEL" bench query --server "http://127.0.0.1:${side#*:}" --runs 50 | tr -d '\n')
  echo "{\"measure\":\"query\",\"through\":\"${side%%:*}\",\"bench\":$res}"
done
