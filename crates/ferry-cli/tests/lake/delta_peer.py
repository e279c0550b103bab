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
import datetime
import decimal
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from peer import text  # noqa: E402  (the same canonical text as the Parquet peer)

import pyarrow as pa  # noqa: E402
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
    first, n = int(first), int(n)
    ids = list(range(first, first + n))

    def name(g):
        if g % 11 == 0:
            return None
        if g % 5 == 0:
            return "tab\tnl\nbs\\\"q'" + str(g)
        return f"name {g} ☃ 😀 ü"

    base_ts = datetime.datetime(2001, 2, 3, 4, 5, 6, 789012)
    data = pa.table({
        "id": pa.array(ids, pa.int64()),
        "name": pa.array([name(g) for g in ids], pa.string()),
        "amount": pa.array([None if g % 13 == 0 else
                            (decimal.Decimal(g) * decimal.Decimal("12.34") - 5000).quantize(decimal.Decimal("0.01"))
                            for g in ids], pa.decimal128(12, 2)),
        "d": pa.array([None if g % 17 == 0 else datetime.date(1999, 12, 31) + datetime.timedelta(days=g % 9000)
                       for g in ids], pa.date32()),
        "ts": pa.array([None if g % 19 == 0 else
                        base_ts + g * datetime.timedelta(minutes=37, microseconds=123) for g in ids],
                       pa.timestamp("us")),
        "flag": pa.array([None if g % 23 == 0 else g % 2 == 0 for g in ids], pa.bool_()),
        "note": pa.array([None if g % 3 == 0 else "x" * (g % 50) for g in ids], pa.string()),
        "f": pa.array([None if g % 29 == 0 else g / 4.0 for g in ids], pa.float64()),
    })
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
