#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `agentcron tzdata` and the start-up check: refresh and status, refusal to run on stale data,
# refresh failures that leave the installed data untouched, and fire times in the zones whose
# rules changed after ICU's built-in data. Usage: test_tzdata.sh PATH/TO/agentcron
set -u
bin=${1:?usage: test_tzdata.sh PATH/TO/agentcron}
tmp=$(mktemp -d); trap 'chmod -R u+rwx "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
passed=0 failed=0
ok()  { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
run() { "$@" >"$tmp/out" 2>"$tmp/err"; status=$?; }
system_version=$(sed -n '1s/^# version //p' /usr/share/zoneinfo/tzdata.zi)
data="$tmp/data"

# refresh writes the data; status reports it, not stale
run "$bin" tzdata refresh --dir "$data"
if [ "$status" -eq 0 ] && grep -q "timezone data $system_version from /usr/share/zoneinfo: [0-9]* zones and [0-9]* links written to $data" "$tmp/out" \
   && [ -s "$data/zoneinfo64.res" ] && [ -z "$(ls -A "$data" | grep refresh)" ]; then ok; else bad "refresh: $status $(cat "$tmp/out" "$tmp/err")"; fi
run "$bin" tzdata status --json --dir "$data"
if [ "$status" -eq 0 ] && [ "$(jq -r '[.icuVersion, .systemVersion, .stale] | @tsv' "$tmp/out")" = "$system_version	$system_version	false" ]; then ok
else bad "status --json: $status $(cat "$tmp/out")"; fi
run "$bin" tzdata status --dir "$data"
if [ "$status" -eq 0 ] && grep -q "ICU timezone data in use: $system_version" "$tmp/out" && grep -q "origin: *tzdata $system_version from /usr/share/zoneinfo" "$tmp/out"; then ok
else bad "status: $(cat "$tmp/out")"; fi
export AGENTCRON_TZDATA_DIR=$data

# Refusal to run on stale data: one line on stderr that names the fix, exit 1.
expect_refusal() { # expect_refusal DESCRIPTION ENV...
  local what=$1; shift
  run env "$@" "$bin" next @daily
  if [ "$status" -eq 1 ] && [ ! -s "$tmp/out" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q 'run `agentcron tzdata refresh`' "$tmp/err"; then ok
  else bad "$what: status $status [$(cat "$tmp/err")]"; fi
}
mkdir -p "$tmp/empty" "$tmp/newer"
expect_refusal "no generated data (ICU's built-in copy)" AGENTCRON_TZDATA_DIR="$tmp/empty"
printf '# version 2999a\n' >"$tmp/newer/tzdata.zi"
expect_refusal "system data newer than the generated data" TZDIR="$tmp/newer"
run env AGENTCRON_TZDATA_DIR="$tmp/empty" "$bin" tzdata status
if [ "$status" -eq 3 ] && grep -q "STALE" "$tmp/out"; then ok; else bad "status on stale data: $status"; fi

# Refresh failures: a clear error, exit 1, and the installed data untouched, nothing left over.
before=$(sha256sum "$data/zoneinfo64.res")
expect_refresh_error() { # expect_refresh_error MESSAGE_PART SOURCE_DIR [ENV...]
  local want=$1 source=$2; shift 2
  run env "$@" "$bin" tzdata refresh --dir "$data" --source "$source"
  if [ "$status" -eq 1 ] && [ ! -s "$tmp/out" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qF -- "$want" "$tmp/err" \
     && [ "$(sha256sum "$data/zoneinfo64.res")" = "$before" ] && [ -z "$(ls -A "$data" | grep -v '^zoneinfo64.res$\|^agentcron-tzdata.txt$')" ]; then ok
  else bad "refresh from $source: status $status [$(cat "$tmp/err")] want [$want]; left: $(ls -A "$data")"; fi
}
copy_zoneinfo() { rm -rf "$tmp/zi"; cp -a /usr/share/zoneinfo "$tmp/zi"; }
expect_refresh_error "$tmp/missing does not exist" "$tmp/missing"
copy_zoneinfo; head -c 100 /usr/share/zoneinfo/America/New_York >"$tmp/zi/America/New_York"
expect_refresh_error "$tmp/zi/America/New_York: truncated TZif file" "$tmp/zi"
copy_zoneinfo; printf 'not a TZif file' >"$tmp/zi/Europe/Paris"
expect_refresh_error "$tmp/zi/Europe/Paris: not a TZif file" "$tmp/zi"
copy_zoneinfo; rm "$tmp/zi/Asia/Tokyo"; mkdir "$tmp/zi/Asia/Tokyo"
expect_refresh_error "cannot read $tmp/zi/Asia/Tokyo: Is a directory" "$tmp/zi"
copy_zoneinfo; rm "$tmp/zi/Africa/Cairo"
expect_refresh_error "cannot read $tmp/zi/Africa/Cairo: No such file or directory" "$tmp/zi"
copy_zoneinfo; head -c 5000 /usr/share/zoneinfo/tzdata.zi >"$tmp/zi/tzdata.zi.cut"; mv "$tmp/zi/tzdata.zi.cut" "$tmp/zi/tzdata.zi"
expect_refresh_error "" "$tmp/zi"
copy_zoneinfo; rm "$tmp/zi/tzdata.zi"
expect_refresh_error "cannot read $tmp/zi/tzdata.zi: No such file or directory" "$tmp/zi"
copy_zoneinfo; sed -i '1s/.*/# this is not the header/' "$tmp/zi/tzdata.zi"
expect_refresh_error "does not start with \"# version\"" "$tmp/zi"
copy_zoneinfo; printf 'L Nowhere/Zone Broken/Link\n' >>"$tmp/zi/tzdata.zi"
expect_refresh_error "link \"Broken/Link\" points at \"Nowhere/Zone\", which is not a zone" "$tmp/zi"
copy_zoneinfo; printf 'Z ../../etc/passwd 0 - X\n' >>"$tmp/zi/tzdata.zi"
expect_refresh_error "has an invalid zone name" "$tmp/zi"
if [ "$(id -u)" -ne 0 ]; then # root reads anything: this case needs a normal user
  copy_zoneinfo; chmod 000 "$tmp/zi/Europe/Berlin"
  expect_refresh_error "cannot read $tmp/zi/Europe/Berlin: Permission denied" "$tmp/zi"
fi
mkdir -p "$tmp/nogenrb"; ln -sf "$(command -v env)" "$tmp/nogenrb/env"
expect_refresh_error "genrb not found: install it with \`sudo apt-get install icu-devtools\`" /usr/share/zoneinfo PATH="$tmp/nogenrb"
# the data directory itself cannot be created
run "$bin" tzdata refresh --dir /proc/agentcron-cannot-be-here
if [ "$status" -eq 1 ] && grep -q "cannot create the data directory" "$tmp/err"; then ok; else bad "unwritable dir: $status $(cat "$tmp/err")"; fi
run "$bin" tzdata bogus
if [ "$status" -eq 2 ]; then ok; else bad "tzdata bogus: $status"; fi

# Fire times in zones whose rules changed after ICU's built-in 2022e, per the system's data.
expect_next() { # expect_next ZONE FROM EXPRESSION EXPECTED_JSON_LIST
  run "$bin" next --json -n "$(echo "$4" | jq length)" --tz "$1" --from "$2" "$3"
  local got; got=$(jq -c .next "$tmp/out" 2>/dev/null)
  if [ "$status" -eq 0 ] && [ "$got" = "$4" ]; then ok; else bad "next $1 $3 from $2: got $got [$(cat "$tmp/err")], want $4"; fi
}
# Mexico abolished DST in 2022: -06:00 all year
expect_next America/Mexico_City 2026-07-01T00:00:00Z '0 9 1 1,7 *' '["2026-07-01T09:00:00-06:00","2027-01-01T09:00:00-06:00","2027-07-01T09:00:00-06:00"]'
# Egypt reinstated DST in 2023: midnight on the last Friday of April does not exist, and
# 23:30 on the last Thursday of October happens twice (runs once, the first time)
expect_next Africa/Cairo 2026-04-20T00:00:00Z '0 0 24 4 *' '["2026-04-24T01:00:00+03:00","2027-04-24T00:00:00+02:00"]'
expect_next Africa/Cairo 2026-10-28T00:00:00Z '30 23 * * *' '["2026-10-28T23:30:00+03:00","2026-10-29T23:30:00+03:00","2026-10-30T23:30:00+02:00"]'
# Kazakhstan moved to one zone, +05:00, in 2024
expect_next Asia/Almaty 2026-07-01T00:00:00Z '0 9 1 1,7 *' '["2026-07-01T09:00:00+05:00","2027-01-01T09:00:00+05:00"]'
# Greenland: -02:00 standard since 2023, DST -01:00 from 23:00 on the Saturday before the
# last Sunday of March (so 23:30 that Saturday does not exist)
expect_next America/Nuuk 2026-03-27T12:00:00Z '30 23 * * *' '["2026-03-27T23:30:00-02:00","2026-03-29T00:00:00-01:00","2026-03-29T23:30:00-01:00"]'
expect_next America/Nuuk 2026-07-01T00:00:00Z '0 9 1 1,7 *' '["2026-07-01T09:00:00-01:00","2027-01-01T09:00:00-02:00"]'
# Paraguay went to permanent -03:00 in October 2024
expect_next America/Asuncion 2026-07-01T00:00:00Z '0 9 1 1,7 *' '["2026-07-01T09:00:00-03:00","2027-01-01T09:00:00-03:00","2027-07-01T09:00:00-03:00"]'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
