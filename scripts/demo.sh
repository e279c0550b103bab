#!/usr/bin/env bash
# Ferry's quickstart: builds `ferry`, creates a sample table in PostgreSQL
# (100,000 orders with NULLs and unicode), and syncs it PostgreSQL → MariaDB
# and PostgreSQL → SQLite, then compares content checksums.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/services.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferry/target}"
# The dev profile (dependencies optimized, see Cargo.toml) shares its build
# with the tests; `cargo build --release -p ferry-cli` is what bench/ uses.
echo "building ferry…"
cargo build -q -p ferry-cli
FERRY="$CARGO_TARGET_DIR/debug/ferry"
WORK="${FERRY_DEMO_DIR:-$HOME/.cache/ferry/demo}"
mkdir -p "$WORK"

psql -X -q -h 127.0.0.1 -U postgres -d test -v ON_ERROR_STOP=1 <<'SQL'
DROP TABLE IF EXISTS demo_orders;
CREATE TABLE demo_orders (
  order_id bigint PRIMARY KEY, customer varchar(80), amount numeric(12,2),
  ordered_on date, shipped_at timestamptz, express boolean, note text);
INSERT INTO demo_orders
SELECT g, 'customer ' || (g % 5000) || CASE WHEN g % 7 = 0 THEN ' — Zoë 😀' ELSE '' END,
       round((g % 100000) * 0.37, 2), date '2024-01-01' + g % 365,
       CASE WHEN g % 9 = 0 THEN NULL ELSE timestamptz '2024-01-01 00:00:00+00' + g * interval '61 seconds' END,
       g % 3 = 0, CASE WHEN g % 4 = 0 THEN NULL ELSE 'note ' || g END
FROM generate_series(1, 100000) g;
ANALYZE demo_orders;
SQL
echo "created PostgreSQL table test.public.demo_orders (100000 rows)"

cat > "$WORK/pg_to_mariadb.yaml" <<'YAML'
name: demo_pg_to_mariadb
source: {type: postgres, url: "postgresql://postgres@127.0.0.1:5432/test", table: public.demo_orders}
sink: {type: mysql, url: "mysql://root@127.0.0.1:3306/test", table: demo_orders}
mode: full_overwrite
YAML
cat > "$WORK/pg_to_sqlite.yaml" <<YAML
name: demo_pg_to_sqlite
source: {type: postgres, url: "postgresql://postgres@127.0.0.1:5432/test", table: public.demo_orders}
sink: {type: sqlite, path: "$WORK/demo.db", table: demo_orders}
mode: full_overwrite
YAML

"$FERRY" validate "$WORK/pg_to_mariadb.yaml"
"$FERRY" run "$WORK/pg_to_mariadb.yaml"
"$FERRY" run "$WORK/pg_to_sqlite.yaml"

pg_sum=$(psql -X -At -h 127.0.0.1 -U postgres -d test -c \
  "SELECT count(*) || ' ' || md5(string_agg(order_id || '|' || coalesce(customer,'') || '|' || amount, ',' ORDER BY order_id)) FROM demo_orders")
my_sum=$(mariadb -N -h 127.0.0.1 -u root test -e \
  "SELECT concat(count(*), ' ', md5(group_concat(concat(order_id, '|', coalesce(customer,''), '|', amount) ORDER BY order_id SEPARATOR ','))) FROM demo_orders" \
  --init-command="SET SESSION group_concat_max_len = 1073741824")
echo "PostgreSQL: $pg_sum"
echo "MariaDB:    $my_sum"
[ "$pg_sum" = "$my_sum" ] && echo "checksums match" || { echo "checksums differ" >&2; exit 1; }
echo "SQLite file: $WORK/demo.db (table demo_orders)"
