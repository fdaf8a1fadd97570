#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `agentcron migrate` against a real Postgres: from empty, re-run, --status, concurrent runs,
# a failing migration, an edited one, a schema newer than the binary, and bad settings.
# Usage: test_migrate.sh PATH/TO/agentcron MIGRATIONS_DIR
bin=${1:?usage: test_migrate.sh PATH/TO/agentcron MIGRATIONS_DIR}
migrations=${2:?usage: test_migrate.sh PATH/TO/agentcron MIGRATIONS_DIR}
. "$(dirname "$0")/lib.sh"
unset AGENTCRON_MIGRATIONS_DIR
export AGENTCRON_TZDATA_DIR=/nonexistent # migrate needs no timezone data

# Every shipped migration applies from empty.
export DATABASE_URL=$(fresh_db shipped)
shipped=$(ls "$migrations"/*.sql | wc -l)
run "$bin" migrate --dir "$migrations"
if [ "$status" -eq 0 ] && [ "$(grep -c '^applying' "$tmp/out")" = "$shipped" ] && [ "$shipped" -ge 2 ]; then ok
else bad "shipped migrations: $status $(cat "$tmp/out" "$tmp/err")"; fi

# The rest works on the first migration alone, adding its own.
base=$tmp/base; mkdir -p "$base"; cp "$migrations/0001_init.sql" "$base/"
migrations=$base

# From empty, then again.
export DATABASE_URL=$(fresh_db migrate)
run "$bin" migrate --dir "$migrations"
if [ "$status" -eq 0 ] && grep -qx "applying 0001_init.sql" "$tmp/out" && grep -q "1 migration applied; the schema is at version 0001" "$tmp/out" \
   && [ ! -s "$tmp/err" ]; then ok
else bad "migrate from empty: $status $(cat "$tmp/out" "$tmp/err")"; fi
tables=$(psql -tA "$DATABASE_URL" -c "select string_agg(tablename, ',' order by tablename) from pg_tables where schemaname = 'public'")
if [ "$tables" = "api_keys,credit_ledger,schema_migrations,task_runs,tasks,users" ]; then ok; else bad "tables after migrate: $tables"; fi
run "$bin" migrate --dir "$migrations"
if [ "$status" -eq 0 ] && grep -q "nothing to apply; the schema is at version 0001" "$tmp/out"; then ok; else bad "re-run: $(cat "$tmp/out" "$tmp/err")"; fi

# --status, with one more migration pending.
mkdir -p "$tmp/m"; cp "$migrations/0001_init.sql" "$tmp/m/"
printf 'CREATE TABLE extra (id int);\n' >"$tmp/m/0002_extra.sql"
run "$bin" migrate --status --json --dir "$tmp/m"
if [ "$status" -eq 0 ] && [ "$(jq -c '[.migrations[] | [.version, .name, .state, .modified]]' "$tmp/out")" = '[[1,"init","applied",false],[2,"extra","pending",false]]' ] \
   && [ "$(jq -r '.migrations[0].appliedAt | test("^[0-9-]{10}T[0-9:]{8}Z$")' "$tmp/out")" = true ]; then ok
else bad "status --json: $(cat "$tmp/out" "$tmp/err")"; fi
run "$bin" migrate --status --dir "$tmp/m"
if [ "$status" -eq 0 ] && grep -q "^0002 *extra *pending" "$tmp/out" && grep -q "^0001 *init *applied *20" "$tmp/out"; then ok; else bad "status: $(cat "$tmp/out")"; fi

# Two runs at once apply each migration once: the second waits for the lock, then has nothing to do.
export DATABASE_URL=$(fresh_db concurrent)
printf 'CREATE TABLE slow (id int);\nSELECT pg_sleep(1);\n' >"$tmp/m/0002_extra.sql"
"$bin" migrate --dir "$tmp/m" >"$tmp/a" 2>&1 & a=$!
"$bin" migrate --dir "$tmp/m" >"$tmp/b" 2>&1 & b=$!
wait $a; sa=$?; wait $b; sb=$?
applying=$(cat "$tmp/a" "$tmp/b" | grep -c '^applying')
rows=$(psql -tA "$DATABASE_URL" -c "select count(*) from schema_migrations")
if [ "$sa" -eq 0 ] && [ "$sb" -eq 0 ] && [ "$applying" -eq 2 ] && [ "$rows" -eq 2 ]; then ok
else bad "concurrent: status $sa/$sb, $applying applying lines, $rows rows: $(cat "$tmp/a" "$tmp/b")"; fi

# A failing migration: exit 1, names file and line, and leaves nothing of itself behind.
printf 'CREATE TABLE half_done (id int);\nINSERT INTO half_done VALUES (1);\nSELEC broken;\n' >"$tmp/m/0003_broken.sql"
run "$bin" migrate --dir "$tmp/m"
if [ "$status" -eq 1 ] && grep -q 'migration 0003_broken.sql failed at line 3: syntax error at or near "SELEC"; nothing of it was applied' "$tmp/err" \
   && [ "$(psql -tA "$DATABASE_URL" -c "select to_regclass('half_done') is null, count(*) from schema_migrations where version = 3 group by 1" )" = "" ] \
   && [ "$(psql -tA "$DATABASE_URL" -c "select to_regclass('half_done') is null")" = "t" ]; then ok
else bad "failing migration: $status $(cat "$tmp/err")"; fi
rm "$tmp/m/0003_broken.sql"

# An applied migration edited afterwards is refused.
printf '\n-- edited\n' >>"$tmp/m/0002_extra.sql"
run "$bin" migrate --dir "$tmp/m"
if [ "$status" -eq 1 ] && grep -q "migration 0002_extra.sql was changed after it was applied" "$tmp/err"; then ok; else bad "edited: $(cat "$tmp/err")"; fi
run "$bin" migrate --status --dir "$tmp/m"
if grep -q "^0002.*file changed since it was applied" "$tmp/out"; then ok; else bad "status of edited: $(cat "$tmp/out")"; fi

# A database newer than this binary.
psql -q "$DATABASE_URL" -c "insert into schema_migrations (version, name, checksum) values (9999, 'future', 'x')"
run "$bin" migrate --dir "$tmp/m"
if [ "$status" -eq 1 ] && grep -q "the database has migration 9999, which this agentcron does not know" "$tmp/err"; then ok
else bad "newer schema: $(cat "$tmp/err")"; fi

# Bad settings and inputs.
run env -u DATABASE_URL "$bin" migrate --dir "$migrations" --env-file /dev/null
if [ "$status" -eq 2 ] && grep -q "DATABASE_URL is not set" "$tmp/err"; then ok; else bad "no DATABASE_URL: $status $(cat "$tmp/err")"; fi
run env DATABASE_URL=postgresql://agentcron:s3cret@127.0.0.1:1/none "$bin" migrate --dir "$migrations"
if [ "$status" -eq 1 ] && grep -q "cannot connect to DATABASE_URL postgresql://agentcron:\*\*\*@127.0.0.1:1/none" "$tmp/err" && ! grep -q s3cret "$tmp/err"; then ok
else bad "unreachable: $status $(cat "$tmp/err")"; fi
run "$bin" migrate --dir "$tmp/missing"
if [ "$status" -eq 1 ] && grep -q "cannot open the migrations directory" "$tmp/err"; then ok; else bad "missing dir: $(cat "$tmp/err")"; fi
printf 'select 1;\n' >"$tmp/m/12_bad-name.sql"
run "$bin" migrate --dir "$tmp/m"
if [ "$status" -eq 1 ] && grep -q "12_bad-name.sql: migration files are named NNNN_name.sql" "$tmp/err"; then ok; else bad "bad name: $(cat "$tmp/err")"; fi
rm "$tmp/m/12_bad-name.sql"; cp "$tmp/m/0002_extra.sql" "$tmp/m/0002_again.sql"
run "$bin" migrate --dir "$tmp/m"
if [ "$status" -eq 1 ] && grep -q "two migrations have version 0002" "$tmp/err"; then ok; else bad "duplicate version: $(cat "$tmp/err")"; fi
run "$bin" migrate --bogus
if [ "$status" -eq 2 ]; then ok; else bad "--bogus: $status"; fi

finish
