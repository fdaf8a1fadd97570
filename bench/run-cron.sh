#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The cron benchmark: ns per next() for cronparse and, on the same machine in the same run,
# for the npm packages cron-parser (what BullMQ uses) and croner, with the ratios and every
# place their answers differ from ours. Installs the peers into bench/peers/node_modules.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/build.sh build-release -DCMAKE_BUILD_TYPE=Release -DAGENTCRON_TESTS=OFF
(cd bench/peers && npm install --no-audit --no-fund --loglevel=error >/dev/null)

zones=(UTC America/New_York Europe/London Australia/Sydney Australia/Lord_Howe Asia/Kolkata)
out=$(mktemp); trap 'rm -f "$out"' EXIT
echo "cron benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "peers: cron-parser $(node -p "require('./bench/peers/node_modules/cron-parser/package.json').version"), croner $(node -p "require('./bench/peers/node_modules/croner/package.json').version"), node $(node --version)"
echo
build-release/bench/cron_bench bench/cron_corpus.txt "${zones[@]}" >"$out"
node bench/peers/cron_peers.mjs bench/cron_corpus.txt "$out"
