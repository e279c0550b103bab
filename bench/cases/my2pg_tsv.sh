#!/usr/bin/env bash
# Baseline MariaDB -> PG: the mariadb client streams the table as TSV
# (unbuffered, --quick) straight into PostgreSQL's text COPY (as the shared
# harness's cases/my2pg_pipe.sh). Valid for lineitem: no tabs, newlines,
# backslashes or NULLs in the data.
#   my2pg_tsv.sh SRC_TABLE DST_TABLE   (DST_TABLE must exist; PG*/MY_* env from lib.sh)
set -euo pipefail
src="$1"; dst="$2"
mariadb -h "$MY_HOST" -P "$MY_PORT" -u "$MY_USER" "$MY_DB" -B -N --raw --quick \
  -e "SELECT * FROM \`$src\`" \
  | psql -X -v ON_ERROR_STOP=1 -c "COPY public.\"$dst\" FROM STDIN"
