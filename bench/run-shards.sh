#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Queue shards on Redis Cluster: agentcron's queue alone (bench/queue_bench.c) drained by three
# consumers (as three workers would), with the queue in 1 shard and in 3 (QUEUE_SHARDS), on a
# 3-master cluster with a replica each (tests/tools/redis_cluster.sh) on this machine. N no-op
# jobs (default 100,000), random priorities 1-4, 64 in flight per consumer; the two take turns
# for BENCH_ROUNDS rounds (default 3) and the medians and their ratio are printed, with the
# Redis CPU each spent per 100,000 jobs (enqueueing included), node by node.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/install-deps.sh
scripts/build.sh build-release -DCMAKE_BUILD_TYPE=Release -DAGENTCRON_TESTS=OFF >/dev/null
n=${BENCH_JOBS:-100000} rounds=${BENCH_ROUNDS:-3} consumers=3
dir=$root/.dev/bench/cluster
cluster=tests/tools/redis_cluster.sh
bash "$cluster" stop "$dir" 2>/dev/null || true
rm -rf "$dir"
first=22300
bash "$cluster" start "$dir" "$first"
trap 'bash "$cluster" stop "$dir"' EXIT
url="redis://agentcron:s3cret@127.0.0.1:$first"
cli() { redis-cli --user agentcron --pass s3cret --no-auth-warning "$@"; }
masters=$(for p in $(seq "$first" $((first + 5))); do cli -p "$p" role | head -1 | grep -q master && echo "$p"; done || true)
# each node's CPU ticks, "port ticks" a line
node_cpu() { for p in $(seq "$first" $((first + 5))); do echo "$p $(awk '{print $14 + $15}' "/proc/$(cat "$dir/$p/redis.pid")/stat")"; done; }
ms() { echo $(( $1 * 1000 / $(getconf CLK_TCK) )); }

echo "queue shards benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "$n no-op jobs, random priorities 1-4, $consumers consumers with 64 in flight each, a 3-master cluster with replicas, $rounds rounds"
echo

declare -A rate cpu
for round in $(seq "$rounds"); do
  for shards in 1 3; do
    for p in $masters; do cli -p "$p" flushall >/dev/null; done
    before=$(node_cpu)
    out=$(build-release/bench/queue_bench "$url" "$n" 64 "$shards" "$consumers")
    # per node: the CPU it spent in this round, busiest first
    spent=$(join <(echo "$before") <(node_cpu) | awk '{print $1, $3 - $2}' | sort -k2 -nr)
    ticks=$(awk '{s += $2} END {print s}' <<<"$spent")
    r=$(jq .jobs_per_s <<<"$out")
    rate[$shards]+="$r "
    cpu[$shards]+="$(( $(ms "$ticks") * 100000 / n )) "
    echo "round $round, $shards shard(s): $r jobs/s (drain $(jq .seconds <<<"$out") s), Redis CPU $(ms "$ticks") ms;" \
      "by node: $(while read -r port t; do printf '%s %s ms, ' "$port" "$(ms "$t")"; done <<<"$spent" | sed 's/, $//')"
  done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
one=$(median "${rate[1]}") three=$(median "${rate[3]}")
echo
echo "1 shard:  $one jobs/s (Redis CPU per 100,000 jobs: $(median "${cpu[1]}") ms)"
echo "3 shards: $three jobs/s (Redis CPU per 100,000 jobs: $(median "${cpu[3]}") ms)"
echo "3 shards / 1 shard: $(awk -v a="$three" -v b="$one" 'BEGIN {printf "%.2fx", a / b}')"
