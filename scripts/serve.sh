#!/usr/bin/env bash
# Ferry's quickstart: builds `ferry` and starts `ferry server` with the
# embedded SQLite store in ./ferry-data, a sample under ./ferry-files (the
# files root: a SQLite source of 10,000 orders, two named connections, an
# approved hourly task and one queued run), and prints where the API, its document and explorer are, and the
# admin token (on the first start only). Ctrl-C stops it.
#   FERRY_LISTEN    address (default 127.0.0.1:8090)
#   FERRY_DATA_DIR  data directory (default ./ferry-data)
#   FERRY_FILES_ROOT  the only directory tasks may use files in (default ./ferry-files)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}"
echo "building ferry…"
cargo build -q -p ferry-cli
exec "$CARGO_TARGET_DIR/debug/ferry" server --sample --log-format text "$@"
