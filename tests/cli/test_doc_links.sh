#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Every relative link in README.md and docs/*.md (and the folders' READMEs) resolves: the file
# exists, and an #anchor names a heading of it (GitHub's way: lower case, spaces to -, most
# punctuation dropped).
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
passed=0 failed=0
anchors() { # the anchors of a Markdown file's headings
  grep -E '^#{1,6} ' "$1" | sed -E 's/^#+ //' | tr 'A-Z' 'a-z' | sed -E 's/[^a-z0-9 _-]//g; s/ /-/g'
}
for doc in README.md docs/*.md */README.md; do
  [ -f "$doc" ] || continue
  dir=$(dirname "$doc")
  # [text](target): targets that are not URLs
  while IFS= read -r target; do
    case "$target" in http://*|https://*|mailto:*) continue ;; esac
    file=${target%%#*} anchor=${target#*#}
    [ "$anchor" = "$target" ] && anchor=""
    path=$dir/$file
    [ -z "$file" ] && path=$doc
    if [ ! -e "$path" ]; then
      echo "FAIL: $doc links to $target: $path does not exist"; failed=$((failed + 1)); continue
    fi
    if [ -n "$anchor" ] && [ -f "$path" ] && ! anchors "$path" | grep -qx -- "$anchor"; then
      echo "FAIL: $doc links to $target: $path has no heading #$anchor"; failed=$((failed + 1)); continue
    fi
    passed=$((passed + 1))
  done < <(grep -oE '\]\([^)[:space:]]+\)' "$doc" | sed -E 's/^\]\((.*)\)$/\1/')
done
[ "$passed" -gt 10 ] || { echo "FAIL: only $passed links found: is the check reading the files?"; failed=$((failed + 1)); }
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
