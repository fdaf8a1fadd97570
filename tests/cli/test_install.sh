#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `DESTDIR=... cmake --install` lays out a working tree: the binaries, their generated timezone
# data (found relative to the binary, wherever the tree is), the migrations, the examples, and
# systemd units that `systemd-analyze verify` accepts.
# Usage: test_install.sh BUILD_DIR
set -u
build=${1:?usage: test_install.sh BUILD_DIR}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
ok()  { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
DESTDIR="$tmp/root" cmake --install "$build" >"$tmp/log" 2>&1 || bad "cmake --install: $(cat "$tmp/log")"
for f in bin/agentcron bin/agentcron-orchestrator bin/agentcron-worker \
         share/agentcron/tzdata/zoneinfo64.res share/agentcron/tzdata/agentcron-tzdata.txt \
         share/agentcron/agentcron.env.example share/agentcron/agents.example.json \
         lib/systemd/system/agentcron-tzdata.path lib/systemd/system/agentcron-tzdata.service \
         lib/systemd/system/agentcron-orchestrator.service lib/systemd/system/agentcron-worker@.service \
         lib/sysusers.d/agentcron.conf; do
  if [ -s "$tmp/root$prefix/$f" ]; then ok; else bad "missing from the install tree: $f"; fi
done
src=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(ls "$tmp/root$prefix/share/agentcron/migrations" | tr '\n' ' ')" = "$(ls "$src/migrations" | tr '\n' ' ')" ]; then ok
else bad "installed migrations differ from migrations/"; fi
if diff -r "$src/web" "$tmp/root$prefix/share/agentcron/web" >"$tmp/webdiff" 2>&1; then ok
else bad "the installed dashboard differs from web/: $(head -3 "$tmp/webdiff")"; fi
unit=$tmp/root$prefix/lib/systemd/system
if grep -qx "ExecStart=$prefix/bin/agentcron-worker --instance %H-%i" "$unit/agentcron-worker@.service" \
   && grep -qx "EnvironmentFile=/etc/agentcron/agentcron.env" "$unit/agentcron-orchestrator.service" \
   && grep -qx "Type=notify" "$unit/agentcron-worker@.service" && grep -q "^WatchdogSec=" "$unit/agentcron-orchestrator.service" \
   && grep -qx "CapabilityBoundingSet=" "$unit/agentcron-worker@.service" && grep -qx "User=agentcron" "$unit/agentcron-worker@.service"; then ok
else bad "daemon units: $(cat "$unit/agentcron-worker@.service")"; fi
# systemd-analyze verify, with ExecStart pointing at the binaries in the staged tree
if command -v systemd-analyze >/dev/null; then
  mkdir -p "$tmp/units"
  for u in "$unit"/*; do sed "s|$prefix/bin|$tmp/root$prefix/bin|g" "$u" >"$tmp/units/${u##*/}"; done
  cp "$tmp/units/agentcron-worker@.service" "$tmp/units/agentcron-worker@1.service"
  if (cd "$tmp/units" && systemd-analyze verify ./agentcron-orchestrator.service ./agentcron-worker@1.service \
        ./agentcron-tzdata.service ./agentcron-tzdata.path) >"$tmp/verify" 2>&1 && [ ! -s "$tmp/verify" ]; then ok
  else bad "systemd-analyze verify: $(cat "$tmp/verify")"; fi
else
  bad "systemd-analyze is missing (Debian package systemd)"
fi
if grep -qx "ExecStart=$prefix/bin/agentcron tzdata refresh --dir $prefix/share/agentcron/tzdata" \
     "$tmp/root$prefix/lib/systemd/system/agentcron-tzdata.service"; then ok; else bad "unit paths do not follow the prefix"; fi
# moved elsewhere, the installed binary still finds its data and is not stale
mv "$tmp/root$prefix" "$tmp/moved"
out=$(env -u AGENTCRON_TZDATA_DIR "$tmp/moved/bin/agentcron" tzdata status --json)
if [ "$(echo "$out" | jq -r '.stale, .dir')" = "false
$tmp/moved/share/agentcron/tzdata" ]; then ok; else bad "installed tzdata status: $out"; fi
if env -u AGENTCRON_TZDATA_DIR "$tmp/moved/bin/agentcron" next -n 1 @daily >/dev/null; then ok; else bad "installed agentcron next"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
