#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Configures and builds agentcron into a build directory: build.sh DIR [CMAKE_ARGS...].
# Reconfigures only when the arguments change, so repeated runs are incremental.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$1; shift
stamp="$dir/.agentcron-configure-args"
if [ ! -f "$dir/CMakeCache.txt" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$*" ]; then
  cmake -S "$root" -B "$dir" "$@" >/dev/null
  echo "$*" >"$stamp"
fi
cmake --build "$dir" -j "$(nproc)"
