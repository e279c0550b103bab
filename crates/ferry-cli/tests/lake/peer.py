"""The independent reader of the files tests: pyarrow (not Ferry) reads what
Ferry wrote, on a local directory or an S3-compatible server (moto).

    peer.py mkbucket BUCKET            create a bucket
    peer.py digest URL                 the typed table's canonical rows, as Ferry's
                                       tests compute them in PostgreSQL
    peer.py count URL                  rows, sum and distinct count of column id
    peer.py rows URL ID,COL,...        those columns of every row, by id (text as in digest)
    peer.py textdigest URL csv|jsonl   digest's rows from Ferry's CSV or JSON lines files
    peer.py ls URL                     every object under URL (relative paths)
    peer.py cat URL                    one object's bytes (text)
    peer.py meta URL                   per data file: rows, row groups, SHA-256, Arrow schema

URL is s3://bucket/prefix (endpoint from FERRY_TEST_S3_ENDPOINT) or a directory.
"""
import datetime
import hashlib
import json
import os
import sys

import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq


def filesystem(url):
    if url.startswith("s3://"):
        endpoint = os.environ["FERRY_TEST_S3_ENDPOINT"]
        scheme, host = endpoint.split("://", 1)
        fs = pafs.S3FileSystem(
            endpoint_override=host,
            scheme=scheme,
            access_key="test",
            secret_key="test",
            region="us-east-1",
        )
        return fs, url[len("s3://"):].rstrip("/")
    return pafs.LocalFileSystem(), url.removeprefix("file://").rstrip("/")


def text(v):
    if v is None:
        return "~"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        # PostgreSQL's float8 text: shortest round trip, no ".0".
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, datetime.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(v, datetime.date):
        return v.isoformat()
    return str(v)


def typed_table(first, n):
    """Rows FIRST..FIRST+N-1 of the typed table, as make_typed_pg makes them
    in PostgreSQL (tests/common.rs), as a pyarrow table."""
    import decimal

    import pyarrow as pa

    ids = list(range(first, first + n))

    def name(g):
        if g % 11 == 0:
            return None
        if g % 5 == 0:
            return "tab\tnl\nbs\\\"q'" + str(g)
        return f"name {g} ☃ 😀 ü"

    base_ts = datetime.datetime(2001, 2, 3, 4, 5, 6, 789012)
    cents = decimal.Decimal("0.01")
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "name": pa.array([name(g) for g in ids], pa.string()),
        "amount": pa.array([None if g % 13 == 0 else
                            (decimal.Decimal(g) * decimal.Decimal("12.34") - 5000).quantize(cents)
                            for g in ids], pa.decimal128(12, 2)),
        "d": pa.array([None if g % 17 == 0 else
                       datetime.date(1999, 12, 31) + datetime.timedelta(days=g % 9000)
                       for g in ids], pa.date32()),
        "ts": pa.array([None if g % 19 == 0 else
                        base_ts + g * datetime.timedelta(minutes=37, microseconds=123)
                        for g in ids], pa.timestamp("us")),
        "flag": pa.array([None if g % 23 == 0 else g % 2 == 0 for g in ids], pa.bool_()),
        "note": pa.array([None if g % 3 == 0 else "x" * (g % 50) for g in ids], pa.string()),
        "f": pa.array([None if g % 29 == 0 else g / 4.0 for g in ids], pa.float64()),
    })


def digest(url):
    fs, path = filesystem(url)
    dataset = ds.dataset(path, filesystem=fs, format="parquet", partitioning="hive")
    cols = ["id", "name", "amount", "d", "ts", "flag", "note", "f"]
    table = dataset.to_table(columns=cols)
    rows = sorted(
        "|".join(text(v) for v in row)
        for row in zip(*(table.column(c).to_pylist() for c in cols))
    )
    h = hashlib.sha256()
    for r in rows:
        h.update(r.encode())
        h.update(b"\n")
    parts = sorted({os.path.dirname(f)[len(path):].strip("/") for f in dataset.files})
    print(json.dumps({"rows": len(rows), "sha256": h.hexdigest(), "partitions": parts}))


def textdigest(url, fmt):
    """The typed table's canonical rows from Ferry's CSV or JSON lines."""
    import csv
    fs, path = filesystem(url)
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    names = sorted(
        i.path for i in infos
        if i.type == pafs.FileType.File and i.path.endswith("." + fmt)
        and not any(p.startswith(("_", ".")) for p in i.path[len(path):].split("/") if p)
    )
    records = []
    for name in names:
        with fs.open_input_stream(name) as f:
            data = f.read().decode()
        if fmt == "csv":
            # NULL is an empty unquoted field; "" a quoted empty string.
            lines = list(csv.reader(data.splitlines(keepends=True), strict=True))
            header, body = lines[0], lines[1:]
            raw = data.split("\r\n")[1:]
            for fields, line in zip(body, raw):
                cells = split_raw(line)
                records.append({h: (None if c == "" else v) for h, v, c in zip(header, fields, cells)})
        else:
            records.extend(json.loads(line) for line in data.splitlines() if line)
    rows = []
    for r in records:
        ts = r["ts"]
        ts = None if ts is None else datetime.datetime.fromisoformat(ts).strftime("%Y-%m-%d %H:%M:%S.%f")
        flag = r["flag"]
        flag = None if flag is None else (flag if isinstance(flag, bool) else flag == "true")
        f = r["f"]
        f = None if f is None else float(f)
        rows.append("|".join(text(v) for v in [
            str(r["id"]), r["name"], r["amount"], r["d"], ts, flag, r["note"], f]))
    rows.sort()
    h = hashlib.sha256()
    for row in rows:
        h.update(row.encode())
        h.update(b"\n")
    print(json.dumps({"rows": len(rows), "sha256": h.hexdigest(), "files": len(names)}))


def split_raw(line):
    """The raw (still quoted) cells of one CSV line."""
    cells, cell, quoted = [], "", False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            cells.append(cell)
            cell = ""
        else:
            cell += ch
    cells.append(cell)
    return cells


def count(url):
    fs, path = filesystem(url)
    dataset = ds.dataset(path, filesystem=fs, format="parquet", partitioning="hive")
    table = dataset.to_table(columns=["id"])
    ids = table.column("id").to_pylist()
    print(json.dumps({"rows": len(ids), "sum_id": sum(ids), "distinct_id": len(set(ids))}))


def rows(url, columns):
    fs, path = filesystem(url)
    dataset = ds.dataset(path, filesystem=fs, format="parquet", partitioning="hive")
    cols = columns.split(",")
    table = dataset.to_table(columns=cols)
    out = sorted(
        ([text(v) for v in row] for row in zip(*(table.column(c).to_pylist() for c in cols))),
        key=lambda r: int(r[0]),
    )
    print(json.dumps(out))


def ls(url):
    fs, path = filesystem(url)
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    print(json.dumps(sorted(i.path[len(path):].strip("/") for i in infos if i.type == pafs.FileType.File)))


def cat(url):
    fs, path = filesystem(url)
    with fs.open_input_stream(path) as f:
        sys.stdout.write(f.read().decode())


def meta(url):
    fs, path = filesystem(url)
    dataset = ds.dataset(path, filesystem=fs, format="parquet", partitioning="hive")
    out = []
    for f in sorted(dataset.files):
        md = pq.ParquetFile(f, filesystem=fs).metadata
        with fs.open_input_stream(f) as stream:
            sha256 = hashlib.sha256(stream.read()).hexdigest()
        out.append({
            "file": f[len(path):].strip("/"),
            "sha256": sha256,
            "rows": md.num_rows,
            "row_groups": md.num_row_groups,
            "schema": str(pq.read_schema(f, filesystem=fs)),
        })
    print(json.dumps(out))


def mkbucket(bucket):
    import boto3

    boto3.client(
        "s3",
        endpoint_url=os.environ["FERRY_TEST_S3_ENDPOINT"],
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)


if __name__ == "__main__":
    commands = {"digest": digest, "count": count, "ls": ls, "cat": cat, "meta": meta,
                "mkbucket": mkbucket, "rows": rows, "textdigest": textdigest}
    commands[sys.argv[1]](*sys.argv[2:])
