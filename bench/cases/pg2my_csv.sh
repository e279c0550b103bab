#!/usr/bin/env bash
# Baseline PG -> MariaDB: PostgreSQL CSV COPY written into a named pipe that the
# mariadb client streams with LOAD DATA LOCAL INFILE (as the shared harness's
# cases/pg2my_csv.sh fifo).
#   pg2my_csv.sh SRC_TABLE DST_TABLE FIFO_DIR   (DST_TABLE must exist; PG*/MY_* env from lib.sh)
set -euo pipefail
src="$1"; dst="$2"; dir="$3"
f="$dir/pg2my_$dst.csv"
rm -f "$f"; mkfifo "$f"
trap 'rm -f "$f"' EXIT
psql -X -v ON_ERROR_STOP=1 -c "COPY (SELECT * FROM public.\"$src\") TO STDOUT (FORMAT csv)" > "$f" &
pg_pid=$!
mariadb -h "$MY_HOST" -P "$MY_PORT" -u "$MY_USER" --local-infile=1 "$MY_DB" -e "
  LOAD DATA LOCAL INFILE '$f' INTO TABLE \`$dst\`
  CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY ''
  LINES TERMINATED BY '\n'"
wait "$pg_pid"
