#!/usr/bin/env bash
# Regenerates crates/tael-server/src/jaeger/proto/jaeger.api_v3.rs from the
# vendored proto (tools/protogen: protox + tonic-prost-build, no protoc).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
otel="$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -maxdepth 1 -mindepth 1 -type d \
    -exec find {} -maxdepth 1 -name 'opentelemetry-proto-0.33.*' \; | sort | tail -1)"
[ -n "$otel" ] || { echo "opentelemetry-proto 0.33 sources not found: run cargo fetch first" >&2; exit 1; }
out="$root/crates/tael-server/src/jaeger/proto"
mkdir -p "$out"
cargo run --quiet --manifest-path "$root/tools/protogen/Cargo.toml" \
    --target-dir "${PROTOGEN_TARGET_DIR:-/tmp/tael-protogen-target}" -- \
    "$root" "$otel/src/proto/opentelemetry-proto" "$out"
echo "wrote $out/jaeger.api_v3.rs"
