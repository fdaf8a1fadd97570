#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The local agentcron: installs what it needs, builds, and runs it.
# For now agentcron is its scheduling core: this shows the timezone data it runs with and real
# schedules with `agentcron next`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/install-deps.sh
scripts/build.sh build
bin=build/cli/agentcron

show() { echo; echo "\$ agentcron next $*"; "$bin" next "$@"; }
echo; echo "\$ agentcron tzdata status"; "$bin" tzdata status
show --tz America/New_York -n 3 '0 9 * * 1-5'
show --tz America/New_York --from 2026-03-07T00:00:00Z -n 3 '30 2 * * *'
show --tz America/New_York --from 2026-11-01T04:59:00Z -n 5 '*/30 * * * *'
show --tz Australia/Lord_Howe --json -n 3 '0 0 L * *'
show --tz America/Mexico_City -n 2 '0 9 * * 1-5'
echo
echo "agentcron is built: $root/$bin (try \`$bin next --help\`)"
