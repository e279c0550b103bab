"""The independent reader and writer of the Iceberg tests: PyIceberg (Apache's
Python implementation, with its own SQL catalog client) reads what Ferry
committed through the same SQLite catalog, and writes tables Ferry reads.

    iceberg_peer.py digest CATALOG_DB WAREHOUSE NS.TABLE [SNAPSHOT_ID]
                          the typed table's canonical rows (as Ferry's tests compute
                          them in PostgreSQL), at the current or the given snapshot
    iceberg_peer.py snapshots CATALOG_DB WAREHOUSE NS.TABLE
                          per snapshot (oldest first): id, parent, operation, summary
    iceberg_peer.py schema CATALOG_DB WAREHOUSE NS.TABLE
                          columns (name, Iceberg type), partition spec, properties
    iceberg_peer.py files CATALOG_DB WAREHOUSE NS.TABLE
                          the live data files (paths) and their partitions
    iceberg_peer.py append CATALOG_DB WAREHOUSE NS.TABLE FIRST N
                          appends rows FIRST..FIRST+N-1 of the typed table (creating
                          the table, unpartitioned, if missing)
"""
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from peer import text, typed_table  # noqa: E402  (shared with the Parquet peer)

from pyiceberg.catalog.sql import SqlCatalog  # noqa: E402

COLUMNS = ["id", "name", "amount", "d", "ts", "flag", "note", "f"]


def catalog(db, warehouse):
    return SqlCatalog("ferry", uri=f"sqlite:///{db}", warehouse=f"file://{warehouse}")


def digest(db, warehouse, ident, snapshot=None):
    t = catalog(db, warehouse).load_table(ident)
    scan = t.scan(selected_fields=tuple(COLUMNS),
                  snapshot_id=None if snapshot is None else int(snapshot))
    data = scan.to_arrow()
    rows = sorted(
        "|".join(text(v) for v in row)
        for row in zip(*(data.column(c).to_pylist() for c in COLUMNS))
    )
    h = hashlib.sha256()
    for r in rows:
        h.update(r.encode())
        h.update(b"\n")
    print(json.dumps({"rows": len(rows), "sha256": h.hexdigest()}))


def snapshots(db, warehouse, ident):
    t = catalog(db, warehouse).load_table(ident)
    out = []
    for s in sorted(t.metadata.snapshots, key=lambda s: (s.sequence_number or 0, s.timestamp_ms)):
        summary = s.summary
        props = dict(summary.additional_properties) if summary else {}
        out.append({
            "id": s.snapshot_id,
            "parent": s.parent_snapshot_id,
            "operation": str(summary.operation.value) if summary else None,
            "summary": props,
        })
    print(json.dumps({"current": t.metadata.current_snapshot_id, "snapshots": out}))


def schema(db, warehouse, ident):
    t = catalog(db, warehouse).load_table(ident)
    print(json.dumps({
        "columns": [[f.name, str(f.field_type)] for f in t.schema().fields],
        "partition": [[f.name, str(f.transform)] for f in t.spec().fields],
        "properties": dict(t.properties),
    }))


def files(db, warehouse, ident):
    t = catalog(db, warehouse).load_table(ident)
    out = [{"path": task.file.file_path, "partition": str(task.file.partition),
            "rows": task.file.record_count} for task in t.scan().plan_files()]
    print(json.dumps(sorted(out, key=lambda f: f["path"])))


def append(db, warehouse, ident, first, n):
    data = typed_table(int(first), int(n))
    cat = catalog(db, warehouse)
    ns = ident.rsplit(".", 1)[0]
    cat.create_namespace_if_not_exists(ns)
    t = cat.create_table_if_not_exists(ident, schema=data.schema)
    t.append(data)


if __name__ == "__main__":
    commands = {"digest": digest, "snapshots": snapshots, "schema": schema, "files": files,
                "append": append}
    commands[sys.argv[1]](*sys.argv[2:])
    sys.stdout.flush()
    os._exit(0)
