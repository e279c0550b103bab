#!/usr/bin/env bash
# Reference PG -> SQLite: PostgreSQL CSV COPY piped into the sqlite3 shell's
# .import (one transaction) into a pre-created table.
#   pg2sqlite_csv.sh SRC_TABLE DB_FILE DST_TABLE   (PG* env from lib.sh)
set -euo pipefail
src="$1"; db="$2"; dst="$3"
psql -X -v ON_ERROR_STOP=1 -c "COPY (SELECT * FROM public.\"$src\") TO STDOUT (FORMAT csv)" \
  | sqlite3 -bail "$db" ".import --csv /dev/stdin $dst"
