#!/usr/bin/env bash
# A node over an S3-compatible object store beside a node without one, on
# this machine: moto's S3 server (PyPI `moto[server]`, in the venv of
# $TAEL_MOTO_VENV, default ~/.cache/tael/moto-venv) on loopback. Each node
# is fresh and gets 500k spans at batch 1000 x 4 over gRPC with the 20%
# LLM mix (distinct payloads). Prints one JSON line per node: the load
# tool's report, seconds from the end of the load until every upload is
# done, bytes uploaded per span and the object-store counters; then one
# line for the object-store node started again on an emptied data dir
# (its WAL is empty after a graceful stop): seconds until it is ready,
# and the bytes it fetched back, per GB.
# Usage: scripts/bench_object_store.sh [path to a release tael binary]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/tael.sh
TAEL=$(release_tael "${1:-}")
VENV=${TAEL_MOTO_VENV:-$HOME/.cache/tael/moto-venv}
REST=127.0.0.1:27811 GRPC=127.0.0.1:24427 S3=127.0.0.1:29011
WORK=$(mktemp -d /tmp/tael-objects-bench.XXXXXX)
"$VENV/bin/moto_server" -H 127.0.0.1 -p 29011 >"$WORK/moto.log" 2>&1 &
MOTO=$!
PID=
trap 'kill $PID $MOTO 2>/dev/null || true; rm -rf "$WORK"' EXIT
until curl -sf "http://$S3/" >/dev/null 2>&1; do sleep 0.1; done
curl -sf -X PUT "http://$S3/bench" >/dev/null
export AWS_ENDPOINT_URL=http://$S3 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1

now() { date +%s.%N; }
stats() { curl -sf "http://$REST/api/v1/stats"; }
start() { # data dir, extra flags...
  local dir=$1; shift
  "$TAEL" serve --quiet --data-dir "$dir" --rest-api-addr $REST --otlp-grpc-addr $GRPC \
    --otlp-http-addr off "$@" 2>>"$WORK/server.log" &
  PID=$!
  until curl -sf "http://$REST/readyz" >/dev/null 2>&1; do sleep 0.05; done
}
settled() {
  stats | python3 -c 'import json,sys; s=json.load(sys.stdin)["storage"]; o=s.get("object_store") or {"pending":0}; sys.exit(0 if s["memtable_rows"]==0 and o["pending"]==0 else 1)'
}

for node in local object_store; do
  DIR=$WORK/$node
  flags=()
  [ $node = object_store ] && flags=(--object-store s3://bench/node-a)
  start "$DIR" --flush-interval 5s "${flags[@]}"
  res=$("$TAEL" bench ingest --endpoint http://$GRPC --batch 1000 --concurrency 4 \
    --requests 500 --llm-ratio 0.2 --seed 11 | tr -d '\n')
  t0=$(now)
  until settled; do sleep 0.2; done
  drain=$(python3 -c "print(round($(now) - $t0, 2))")
  s=$(stats | tr -d '\n')
  per_span=$(echo "$s" | python3 -c 'import json,sys; o=json.load(sys.stdin)["storage"].get("object_store"); print(round(o["uploaded_bytes"]/500000, 1) if o else "null")')
  echo "{\"node\":\"$node\",\"bench\":$res,\"settled_after_s\":$drain,\"uploaded_bytes_per_span\":$per_span,\"stats\":$s}"
  kill -TERM "$PID"; wait "$PID" || true
done

# Bootstrap: the object-store node on an emptied data dir.
bytes=$(curl -sf "http://$S3/bench?list-type=2&prefix=node-a/" | python3 -c '
import re,sys; print(sum(int(x) for x in re.findall(r"<Size>(\d+)</Size>", sys.stdin.read())))')
rm -rf "$WORK/object_store"
t0=$(now)
start "$WORK/object_store" --object-store s3://bench/node-a
secs=$(python3 -c "print(round($(now) - $t0, 2))")
parts=$(stats | python3 -c 'import json,sys; print(json.load(sys.stdin)["storage"]["parts"])')
echo "{\"bootstrap\":{\"store_bytes\":$bytes,\"parts\":$parts,\"ready_after_s\":$secs,\"s_per_gb\":$(python3 -c "print(round($secs / ($bytes / 1e9), 1))")}}"
kill -TERM "$PID"; wait "$PID" || true
