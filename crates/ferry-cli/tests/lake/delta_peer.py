"""The independent reader and writer of the Delta tests: the Python `deltalake`
package (delta-rs's Python binding, built and released separately from the Rust
crate Ferry links) reads what Ferry committed, and writes tables Ferry reads.

    delta_peer.py digest URL [VERSION]   the typed table's canonical rows (as Ferry's
                                         tests compute them in PostgreSQL), at VERSION
    delta_peer.py version URL            the table's latest version
    delta_peer.py history URL            per commit (oldest first): version, operation,
                                         Ferry's commitInfo entry
    delta_peer.py txn URL APP_ID         the application transaction version of APP_ID
    delta_peer.py schema URL             the table schema (Delta JSON) and partition columns
    delta_peer.py append URL FIRST N     writes rows FIRST..FIRST+N-1 of the typed table
                                         (as make_typed_pg makes them) as a Delta append

URL is s3://bucket/prefix (endpoint from FERRY_TEST_S3_ENDPOINT) or a directory.
"""
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from peer import text, typed_table  # noqa: E402  (shared with the Parquet peer)

from deltalake import DeltaTable, write_deltalake  # noqa: E402

COLUMNS = ["id", "name", "amount", "d", "ts", "flag", "note", "f"]


def storage(url):
    if url.startswith("s3://"):
        return {
            "AWS_ENDPOINT_URL": os.environ["FERRY_TEST_S3_ENDPOINT"],
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
            "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
            "AWS_FORCE_PATH_STYLE": "true",
        }
    return None


def table(url, version=None):
    return DeltaTable(url, version=None if version is None else int(version),
                      storage_options=storage(url))


def digest(url, version=None):
    t = table(url, version).to_pyarrow_table(columns=COLUMNS)
    rows = sorted(
        "|".join(text(v) for v in row)
        for row in zip(*(t.column(c).to_pylist() for c in COLUMNS))
    )
    h = hashlib.sha256()
    for r in rows:
        h.update(r.encode())
        h.update(b"\n")
    print(json.dumps({"rows": len(rows), "sha256": h.hexdigest()}))


def version(url):
    print(table(url).version())


def history(url):
    out = []
    for c in reversed(table(url).history()):
        out.append({
            "version": c.get("version"),
            "operation": c.get("operation"),
            "ferry": c.get("ferry"),
            "parameters": c.get("operationParameters"),
        })
    print(json.dumps(out, default=str))


def txn(url, app_id):
    print(json.dumps(table(url).transaction_version(app_id)))


def schema(url):
    t = table(url)
    print(json.dumps({
        "schema": json.loads(t.schema().to_json()),
        "partition_columns": t.metadata().partition_columns,
    }))


def append(url, first, n):
    data = typed_table(int(first), int(n))
    write_deltalake(url, data, mode="append", storage_options=storage(url))


if __name__ == "__main__":
    commands = {"digest": digest, "version": version, "history": history, "txn": txn,
                "schema": schema, "append": append}
    commands[sys.argv[1]](*sys.argv[2:])
    # deltalake's runtime threads sometimes abort the interpreter's teardown
    # ("terminate called without an active exception") after the answer is
    # out: leave without it.
    sys.stdout.flush()
    os._exit(0)
