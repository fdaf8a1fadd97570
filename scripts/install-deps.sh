#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs the Debian 12 packages agentcron needs to build, run and test, and any packages
# named as arguments (the benchmarks add theirs). Idempotent: installs only what is missing, and
# runs `apt-get update` only then. Works as root or with sudo.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang libclang-rt-14-dev   # toolchain, fuzzing, sanitizers
  libicu-dev icu-devtools tzdata                                # cronparse and its tz data
  libuv1-dev libpq-dev libhiredis-dev libmbedtls-dev libjansson-dev libsystemd-dev node-llhttp
  libcmocka-dev jq python3 openssl tmux systemd curl            # tests (peer, test CA, terminal, units, HTTP)
  libnss-wrapper                                                # tests: names with several addresses
  postgresql-15 redis-server                                    # servers the tests start privately
  chromium fonts-dejavu-core                                    # the dashboard's browser tests
)
# Benchmark peers run on Node.js; an image may already ship a Node.js that bundles npm.
command -v npm >/dev/null || packages+=(nodejs npm)
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Installing the server packages must not start system services: this project runs its own.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  policy=/usr/sbin/policy-rc.d
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
fi
trap '[ -n "$policy" ] && $sudo rm -f "$policy"' EXIT
# Nor create the system's default Postgres cluster (15/main): the tests and the dev stack
# make their own under the repo. Only when postgresql-common is not yet installed.
if ! dpkg-query -W -f='${Status}' postgresql-common 2>/dev/null | grep -q "install ok installed"; then
  $sudo mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.d/agentcron.conf >/dev/null
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
