#!/usr/bin/env bash
# Baseline PG -> PG: binary COPY out piped into binary COPY in.
#   pg2pg_copy.sh SRC_TABLE DST_TABLE      (DST_TABLE must exist; PG* env from lib.sh)
set -euo pipefail
src="$1"; dst="$2"
psql -X -v ON_ERROR_STOP=1 -c "COPY (SELECT * FROM public.\"$src\") TO STDOUT (FORMAT binary)" \
  | psql -X -v ON_ERROR_STOP=1 -c "COPY public.\"$dst\" FROM STDIN (FORMAT binary)"
