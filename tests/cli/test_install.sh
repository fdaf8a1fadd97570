#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `DESTDIR=... cmake --install` lays out a working tree: the binary, its generated timezone
# data (found relative to the binary, wherever the tree is), and the systemd units.
# Usage: test_install.sh BUILD_DIR
set -u
build=${1:?usage: test_install.sh BUILD_DIR}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0
ok()  { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
DESTDIR="$tmp/root" cmake --install "$build" >"$tmp/log" 2>&1 || bad "cmake --install: $(cat "$tmp/log")"
for f in bin/agentcron share/agentcron/tzdata/zoneinfo64.res share/agentcron/tzdata/agentcron-tzdata.txt \
         lib/systemd/system/agentcron-tzdata.path lib/systemd/system/agentcron-tzdata.service; do
  if [ -s "$tmp/root$prefix/$f" ]; then ok; else bad "missing from the install tree: $f"; fi
done
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
