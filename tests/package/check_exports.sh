#!/usr/bin/env bash
# Checks that the shared library LIB exports the public API only: every dynamic symbol it defines starts with
# inb_, and none with inb__ (the library's internal functions, which the headers of include/ do not declare).
# Names each symbol that breaks the rule and exits 1. Usage: check_exports.sh LIB [NM]
set -euo pipefail
lib=${1:?usage: check_exports.sh LIB [NM]}
nm=${2:-nm}

symbols=$("$nm" -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }')
if [ -z "$symbols" ]; then
  echo "check_exports: $lib: defines no dynamic symbol (not a shared library?)" >&2
  exit 1
fi
bad=$(awk '!/^inb_/ || /^inb__/' <<<"$symbols")
if [ -n "$bad" ]; then
  while read -r sym; do
    echo "check_exports: $lib exports '$sym', outside the public API (inb_* but not inb__*)" >&2
  done <<<"$bad"
  echo "check_exports: $(wc -l <<<"$bad") of $(wc -l <<<"$symbols") exported symbols are not public" >&2
  exit 1
fi
echo "check_exports: $lib: $(wc -l <<<"$symbols") exported symbols, all public"
