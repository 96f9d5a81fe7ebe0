#!/usr/bin/env bash
# Runs an example of command farming (jobs/farm/NAME.yaml) through the command, on a copy of its folder (its
# tasks write beside the job), then checks what its tasks made against the same work done here in the shell.
# Usage: run_farm_example.sh NAME NP   (environment: INBATCH, MPIEXEC, MPIFLAGS, WORK)
set -euo pipefail
name="$1" np="$2"
src="$(cd "$(dirname "$0")/../../jobs/farm" && pwd)"
work="${WORK:?}/farm_example.$name.np$np"
rm -rf "$work" && cp -r "$src" "$work"
rm -f "$work"/*.results.tsv && rm -rf "$work/counts" "$work/runs"
# shellcheck disable=SC2086  # MPIFLAGS is a list of flags
"${MPIEXEC:?}" -n "$np" $MPIFLAGS "${INBATCH:?}" run "$work/$name.yaml" </dev/null >"$work/stdout" 2>"$work/stderr"
cat "$work/stderr"
results="$work/$name.results.tsv"
fail() { echo "run_farm_example.sh: $name on $np rank(s): $*" >&2; exit 1; }
tasks=$(grep -vc '^#' "$results")
[[ "$(awk -F'\t' '!/^#/ && $8 == "done"' "$results" | wc -l)" == "$tasks" ]] || fail "not every task is done"
cd "$work"
case "$name" in
wordcount)
  mapfile -t files < <(grep -vE '^[[:space:]]*(#|$)' texts.txt)
  [[ "$tasks" == "${#files[@]}" ]] || fail "$tasks results for ${#files[@]} tasks"
  for f in "${files[@]}"; do
    want="$(wc -w <"$f" | tr -d ' ') $f"
    [[ "$(cat "counts/$f.count")" == "$want" ]] || fail "counts/$f.count is '$(cat "counts/$f.count")', not '$want'"
  done
  ;;
seeds)
  [[ "$tasks" == 100 ]] || fail "$tasks results for 100 seeds"
  for s in $(seq 0 99); do
    [[ "$(cat "runs/$s.txt")" == "$(./simulate.sh "$s")" ]] || fail "runs/$s.txt differs from simulate.sh $s"
  done
  ;;
*) fail "no check for this example" ;;
esac
echo "run_farm_example.sh: $name on $np rank(s): $tasks tasks, outputs checked"
