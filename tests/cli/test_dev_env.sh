#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `eval "$(deploy/dev.sh env)"` sets up a shell for the agentcron commands: the settings must be
# exported (a child process, as build/cli/agentcron is, sees them), and quoted so that eval
# takes each value whole.
root=$(cd "$(dirname "$0")/../.." && pwd)
got=$(env -i PATH="$PATH" HOME="${HOME:-/root}" bash -c '
  eval "$("$1"/deploy/dev.sh env 2>/dev/null)"
  bash -c "printf \"%s|%s|%s\" \"\$DATABASE_URL\" \"\$AGENTS_FILE\" \"\$HTTP_LISTEN\""' _ "$root")
IFS='|' read -r db agents listen <<<"$got"
if [[ "$db" == postgresql://* ]] && [ "$agents" = "$root/.dev/dev/agents.json" ] && [[ "$listen" == 127.0.0.1:* ]]; then
  echo "1 passed, 0 failed"
else
  echo "FAIL: a child of the shell does not see dev.sh's settings: \"$got\""
  echo "0 passed, 1 failed"
  exit 1
fi
