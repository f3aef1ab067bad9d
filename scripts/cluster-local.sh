#!/usr/bin/env bash
# A local shard of three replicas on one etcd, for trying failover by hand.
# Usage: scripts/cluster-local.sh [dir]   (Ctrl-C stops everything)
# Needs `etcd` (Debian: etcd-server). Builds the release binary unless
# TAEL_BIN names one. Replica i listens on REST 127.0.0.1:1770i and OTLP
# gRPC 127.0.0.1:1431i; etcd on 127.0.0.1:12379.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-$(mktemp -d /tmp/tael-cluster.XXXXXX)}
mkdir -p "$DIR"
if [ -z "${TAEL_BIN:-}" ]; then
  cargo build --release -p tael-cli >/dev/null
  TAEL_BIN=$PWD/target/release/tael
fi
command -v etcd >/dev/null || { echo "etcd is not installed (apt-get install etcd-server)" >&2; exit 1; }
export TAEL_ETCD_ENDPOINTS=http://127.0.0.1:12379
export TAEL_CLUSTER_TOKEN=${TAEL_CLUSTER_TOKEN:-local-cluster-token-$(date +%s)}
export TAEL_LEADER_LEASE=${TAEL_LEADER_LEASE:-2s}
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

etcd --name local --data-dir "$DIR/etcd" \
  --listen-client-urls $TAEL_ETCD_ENDPOINTS --advertise-client-urls $TAEL_ETCD_ENDPOINTS \
  --listen-peer-urls http://127.0.0.1:12380 --initial-advertise-peer-urls http://127.0.0.1:12380 \
  --initial-cluster local=http://127.0.0.1:12380 >"$DIR/etcd.log" 2>&1 &
PIDS+=($!)
until curl -sf $TAEL_ETCD_ENDPOINTS/health >/dev/null; do sleep 0.1; done

for i in 1 2 3; do
  TAEL_NODE_ID=replica-$i "$TAEL_BIN" serve --quiet --data-dir "$DIR/replica-$i" \
    --rest-api-addr 127.0.0.1:1770$i --otlp-grpc-addr 127.0.0.1:1431$i --otlp-http-addr off \
    2>>"$DIR/replica-$i.log" &
  PIDS+=($!)
done
for i in 1 2 3; do
  until curl -sf http://127.0.0.1:1770$i/healthz >/dev/null; do sleep 0.1; done
done
sleep 3
for i in 1 2 3; do
  "$TAEL_BIN" cluster status --server http://127.0.0.1:1770$i --format table
done
cat <<MSG

data and logs in $DIR; the token is in TAEL_CLUSTER_TOKEN=$TAEL_CLUSTER_TOKEN
send traces to any replica's gRPC port (127.0.0.1:14311..3; standbys answer
UNAVAILABLE naming the leader), kill the leader's process and watch
  $TAEL_BIN cluster status --server http://127.0.0.1:17702 --format table
Ctrl-C stops all.
MSG
wait
