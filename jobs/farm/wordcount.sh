#!/bin/sh
# wordcount.sh IN OUT: the word count of text file IN, written to OUT (a task of jobs/farm/wordcount.yaml).
# Fails (exit 2) on a file it cannot read, as a real tool would.
set -eu
in=$1 out=$2
[ -r "$in" ] || { echo "wordcount: cannot read $in" >&2; exit 2; }
mkdir -p "$(dirname "$out")"
printf '%s %s\n' "$(wc -w <"$in" | tr -d ' ')" "$in" >"$out"
