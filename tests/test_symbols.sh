#!/usr/bin/env bash
# libnncl.so exports exactly the functions include/nncl.h declares: every
# NNCL_API declaration is a defined dynamic symbol, and no other symbol is.
# Usage: test_symbols.sh LIBRARY HEADER
set -euo pipefail
lib=$1 header=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

grep -E '^NNCL_API ' "$header" | sed -E 's/\(.*//; s/.*[ *]//' | sort -u >"$work/declared"
nm -D --defined-only "$lib" | awk '{print $NF}' | sed 's/@.*//' | sort -u >"$work/exported"

declared=$(wc -l <"$work/declared")
if [ "$declared" -lt 50 ]; then
  echo "FAIL: found only $declared declarations in $header; the parser is out of step with it"
  exit 1
fi
extra=$(comm -13 "$work/declared" "$work/exported")
missing=$(comm -23 "$work/declared" "$work/exported")
[ -z "$extra" ] || printf 'exported but not declared in nncl.h:\n%s\n' "$extra"
[ -z "$missing" ] || printf 'declared in nncl.h but not exported:\n%s\n' "$missing"
if [ -n "$extra$missing" ]; then
  echo "FAIL"
  exit 1
fi
echo "$declared functions declared, the same $declared exported"
