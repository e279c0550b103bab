#!/usr/bin/env bash
# Fails when a crate depends against the layering
#   core ← connectors, engine, store ← scheduler, server ← cli
# or when the graph holds a second copy of arrow, parquet or datafusion, or of the TLS stack
# (rustls, ring, tokio-rustls: one TLS implementation, one crypto provider).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --format-version 1 --locked | python3 -c '
import json, sys
allowed = {
    "ferry-core": set(),
    "ferry-connectors": {"ferry-core"},
    "ferry-engine": {"ferry-core"},
    "ferry-store": {"ferry-core"},
    "ferry-scheduler": {"ferry-core", "ferry-store"},
    "ferry-server": {"ferry-core", "ferry-engine", "ferry-store", "ferry-scheduler", "ferry-connectors"},
    "ferry-cli": {"ferry-core", "ferry-connectors", "ferry-engine", "ferry-store", "ferry-scheduler", "ferry-server"},
    "ferry-testkit": {"ferry-core"},
}
meta = json.load(sys.stdin)
members = {p["id"] for p in meta["packages"] if p["id"] in meta["workspace_members"]}
bad = []
for p in meta["packages"]:
    if p["id"] not in members:
        continue
    name = p["name"]
    if name not in allowed:
        bad.append(f"{name}: not in the layering table of .ci/check-deps.sh")
        continue
    for d in p["dependencies"]:
        dep = d["name"]
        if not dep.startswith("ferry-"):
            continue
        if d.get("kind") == "dev" and dep == "ferry-testkit":
            continue
        if d.get("kind") == "dev" and name in ("ferry-engine",) and dep == "ferry-connectors":
            continue
        if dep not in allowed[name]:
            bad.append(f"{name} depends on {dep}, which the layering forbids")
if bad:
    print("layering violations:\n  " + "\n  ".join(bad))
    sys.exit(1)
print("layering ok")
'
dups=$(cargo tree -d --workspace --locked --edges normal,build --features ferry-cli/lake 2>/dev/null | grep -E '^(arrow|arrow-[a-z]+|parquet|datafusion|rustls|ring|tokio-rustls) v' | sort -u || true)
if [ -n "$dups" ]; then
  echo "duplicate heavy crates in the graph:"; echo "$dups"; exit 1
fi
echo "no duplicate arrow/parquet/datafusion/rustls/ring/tokio-rustls"
