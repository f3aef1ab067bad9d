# Sourced by the benchmark scripts.
# release_tael [PATH]: prints PATH when given, else builds the release
# binary (into $CARGO_TARGET_DIR or ./target) and prints its path.
release_tael() {
  if [ -n "${1:-}" ]; then
    echo "$1"
    return
  fi
  cargo build --release -p tael-cli --bin tael >/dev/null
  echo "${CARGO_TARGET_DIR:-$PWD/target}/release/tael"
}
