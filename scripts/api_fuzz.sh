#!/usr/bin/env bash
# Property-based API test: schemathesis (from PyPI) generates requests from
# /api/openapi.json, valid and invalid, for every operation, and fails on
# any 5xx response. Runs a fresh `ferry server` on a free port with an
# embedded store and the sample task (the document's path examples name
# it, so operations on a real task are exercised too); the admin token is a
# fresh random one. Revoking tokens is left out: the fuzzer would revoke
# its own (the auth test covers it).
#   FERRY_BIN          the ferry binary (default: the debug build)
#   FUZZ_MAX_EXAMPLES  examples per operation (default 40)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}"
bin="${FERRY_BIN:-$target/debug/ferry}"
venv="$HOME/.cache/ferry/venv"
version="4.32.5"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  echo "api_fuzz: installing schemathesis $version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$version"
fi
dir=$(mktemp -d)
token="fry_fuzz-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
FERRY_ADMIN_TOKEN="$token" FERRY_LOG="warn,ferry_server=info" "$bin" server \
  --listen 127.0.0.1:0 --data-dir "$dir/data" --key-file "$dir/keys/secret.key" \
  --sample --log-format text 2> "$dir/server.log" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
base=""
for _ in $(seq 1 100); do
  base=$(sed -n 's/^Ferry is serving on //p' "$dir/server.log" | head -1)
  [ -n "$base" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/server.log"; echo "api_fuzz: server exited"; exit 1; }
  sleep 0.1
done
[ -n "$base" ] || { cat "$dir/server.log"; echo "api_fuzz: server did not start"; exit 1; }
echo "api_fuzz: server at $base"
status=0
"$venv/bin/schemathesis" run "$base/api/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error \
  --max-examples "${FUZZ_MAX_EXAMPLES:-40}" \
  --phases examples,coverage,fuzzing \
  --suppress-health-check all \
  --exclude-operation-id revoke_token \
  ${FUZZ_REPORT_DIR:+--report har --report-dir "$FUZZ_REPORT_DIR"} \
  --no-color || status=$?
if grep -q "internal error" "$dir/server.log"; then
  echo "api_fuzz: the server logged internal errors:"
  grep "internal error" "$dir/server.log" | head -20
  status=1
fi
exit "$status"
