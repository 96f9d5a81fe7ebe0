#!/bin/bash
# run_bench_exec.sh: command farming (action exec) against GNU parallel and xargs, on one machine.
#
# One task list of `tasks` identical lines ("x"); every variant runs `true x` once per line, two at a time:
#   inbatch 1x2   inbatch run, 1 rank (no mpiexec), n_workers: 2, log: discard   argv: [true, "{}"]
#   inbatch 2x1   the same job on 2 ranks (mpiexec -n 2), n_workers: 1
#   parallel -j2  parallel -j2 --will-cite true :::: LIST   (skipped, with a message, when GNU parallel is missing)
#   xargs -P2     xargs -P2 -n1 true < LIST   (fork+exec alone: the practical limit)
# Then `sleep_tasks` lines of "0.01" run as `sleep 0.01` on 2 workers, by inbatch 1x2 and by xargs -P2, against
# the ideal sleep_tasks * 0.01 / 2 s; and inbatch's fixed cost: a list of 1 task, on 1 rank and on 2 ranks.
# Each figure is the wall time of the whole command (what a user pays: start-up, MPI, the results file), taken
# over `rounds` interleaved rounds (round r runs every variant once, in a rotated order, then round r + 1):
# median and spread (min-max). inbatch's own clock (its summary line "N tasks in S s") is shown beside it.
# Every run is checked: inbatch's results file has one line per task, all done with exit 0; parallel and xargs
# exit 0. Goals (targets, never failures), for inbatch 1x2: >= 5x GNU parallel's throughput, >= 0.9x xargs',
# and the sleeps' wall time <= 1.1x the ideal.
#
# Usage: tests/bench/run_bench_exec.sh [tasks] [rounds] [sleep_tasks]     defaults: 5000 3 1000
# Environment: INBATCH (default build/src/cli/inbatch), MPIEXEC, MPIEXEC_PREFLAGS (default "--oversubscribe",
# plus "--allow-run-as-root" as root), PARALLEL (default parallel).
# Exit status: 2 on bad arguments or a missing inbatch, 1 when a run fails or its results are wrong; 0 otherwise.
set -u -o pipefail
export LC_ALL=C   # a decimal point in $EPOCHREALTIME, awk and sort whatever the user's locale
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -gt 3 ]; then
  echo "usage: $0 [tasks] [rounds] [sleep_tasks]" >&2
  exit 2
fi
tasks=${1:-5000} rounds=${2:-3} sleeps=${3:-1000}
for v in "$tasks" "$rounds" "$sleeps"; do
  case $v in '' | *[!0-9]* | 0*) echo "run_bench_exec: arguments must be positive integers; found '$v'" >&2; exit 2 ;; esac
done
inbatch=${INBATCH:-$here/../../build/src/cli/inbatch}
mpiexec=${MPIEXEC:-mpiexec}
parallel=${PARALLEL:-parallel}
if [ -z "${MPIEXEC_PREFLAGS+set}" ]; then
  MPIEXEC_PREFLAGS=--oversubscribe
  [ "$(id -u)" = 0 ] && MPIEXEC_PREFLAGS="--allow-run-as-root $MPIEXEC_PREFLAGS"
fi
read -r -a preflags <<<"$MPIEXEC_PREFLAGS"
[ -x "$inbatch" ] || { echo "run_bench_exec: $inbatch not found (build target inbatch_cli, or set INBATCH)" >&2; exit 2; }
inbatch=$(cd "$(dirname "$inbatch")" && pwd)/$(basename "$inbatch")
have_parallel=0
"$parallel" --version 2>/dev/null | grep -q '^GNU parallel' && have_parallel=1   # moreutils' parallel is another tool
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
dir=$(mktemp -d "$base/bench_exec.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1

yes x | head -n "$tasks" >list.txt
yes 0.01 | head -n "$sleeps" >sleeps.txt
echo x >one.txt
job() { # NAME LIST N_WORKERS ARGV: a job file running ARGV once per line of LIST
  printf 'input:\n  tasks: %s\noutput:\n  results: %s.results.tsv\npipeline:\n  - action: exec\n    argv: %s\n    n_workers: %s\n    log: discard\n' \
    "$2" "$1" "$4" "$3" >"$1.yaml"
}
job true12 list.txt 2 '[true, "{}"]'
job true21 list.txt 1 '[true, "{}"]'
job sleep12 sleeps.txt 2 '[sleep, "{}"]'
job one12 one.txt 2 '[true, "{}"]'
job one21 one.txt 1 '[true, "{}"]'

now() { if [ -n "${EPOCHREALTIME:-}" ]; then echo "$EPOCHREALTIME"; else date +%s.%N; fi; }
fail() { echo "run_bench_exec: ERROR $*" >&2; exit 1; }
# check_results JOB N: JOB's results file has N task lines, every one done with exit 0
check_results() {
  awk -F'\t' -v n="$2" -v f="$1.results.tsv" '!/^#/ { k++; if ($5 != "0" || $8 != "done") bad++ }
    END { if (k != n || bad) { printf "%s: %d task lines (expected %d), %d not done with exit 0\n", f, k, n, bad; exit 1 } }' \
    "$1.results.tsv" >&2 || fail "variant $1: wrong results"
}
# run VARIANT -> "wall inner": seconds of one timed run, and inbatch's own figure ("-" for the others)
run() {
  local v=$1 t0 t1 out inner=- n=$tasks job
  case $v in
    true12 | sleep12 | one12 | true21 | one21)
      job=$v
      case $v in sleep*) n=$sleeps ;; one*) n=1 ;; esac
      local cmd=("$inbatch" run "$job.yaml" --overwrite)
      [[ $v == *21 ]] && cmd=("$mpiexec" -n 2 "${preflags[@]}" "${cmd[@]}")
      t0=$(now)
      out=$("${cmd[@]}" 2>&1 >/dev/null) || { echo "$out" >&2; fail "variant $v: inbatch failed"; }
      t1=$(now)
      inner=$(echo "$out" | sed -n "s/^inbatch: $n tasks in \([0-9.]*\) s .*/\1/p")
      [ -n "$inner" ] || { echo "$out" >&2; fail "variant $v: no summary line 'inbatch: $n tasks in S s' from inbatch"; }
      check_results "$job" "$n"
      rm -f "$job.results.tsv" ;;
    parallel)
      t0=$(now)
      "$parallel" -j2 --will-cite true :::: list.txt || fail "parallel -j2 exited with status $?"
      t1=$(now) ;;
    xargs)
      t0=$(now)
      xargs -P2 -n1 true <list.txt || fail "xargs -P2 exited with status $?"
      t1=$(now) ;;
    sleepx)
      t0=$(now)
      xargs -P2 -n1 sleep <sleeps.txt || fail "xargs -P2 sleep exited with status $?"
      t1=$(now) ;;
  esac
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }') $inner"
}

variants=(true12 true21 xargs sleep12 sleepx one12 one21)
((have_parallel)) && variants+=(parallel)
nv=${#variants[@]}
declare -A walls inners
for ((r = 0; r < rounds; r++)); do
  for ((k = 0; k < nv; k++)); do
    v=${variants[$(((r + k) % nv))]}
    read -r w i <<<"$(run "$v")" || exit 1
    [ -n "$w" ] || exit 1
    walls[$v]="${walls[$v]:-} $w"
    inners[$v]="${inners[$v]:-} $i"
  done
done

# stat "t1 t2 ...": "median min max" (the median of an even count is the mean of the middle two)
stat() {
  echo "$1" | tr ' ' '\n' | grep -v '^-*$' | sort -g |
    awk '{ t[NR] = $1 } END { if (!NR) exit; m = NR % 2 ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2; printf "%.3f %.3f %.3f", m, t[1], t[NR] }'
}
declare -A med lo hi imed
for v in "${variants[@]}"; do
  read -r "med[$v]" "lo[$v]" "hi[$v]" <<<"$(stat "${walls[$v]}")"
  read -r "imed[$v]" _ _ <<<"$(stat "${inners[$v]}")"
done
cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo 2>/dev/null | head -n 1)
echo "bench_exec  $tasks tasks of \`true x\` from one list, 2 at a time; wall time of each whole command, median (min-max)" \
  "of $rounds interleaved round$( ((rounds > 1)) && echo s); nproc=$(nproc)${cpu:+ ($cpu)}, files in $dir"
# line LABEL VARIANT N: one variant's line, with its ratios to parallel and xargs (throughput) and inbatch's own clock
line() {
  local v=$2
  awk -v label="$1" -v n="$3" -v m="${med[$v]}" -v lo="${lo[$v]}" -v hi="${hi[$v]}" -v inner="${imed[$v]:-}" \
    -v p="${med[parallel]:-}" -v x="${med[xargs]}" -v self="$v" 'BEGIN {
    printf "%-13s %6d tasks  median %7.3f s  (%.3f-%.3f)  %6.0f tasks/s", label, n, m, lo, hi, n / m
    if (self != "parallel") printf "  vs parallel %s", (p == "" ? "  -  " : sprintf("%5.2fx", p / m))
    if (self != "xargs") printf "  vs xargs %5.2fx", x / m
    if (inner != "") printf "  (inbatch'"'"'s own clock: %.3f s)", inner
    printf "\n"
  }'
}
line "inbatch 1x2" true12 "$tasks"
line "inbatch 2x1" true21 "$tasks"
if ((have_parallel)); then
  line "parallel -j2" parallel "$tasks"
else
  echo "parallel -j2  skipped: GNU parallel not found (Debian package parallel; or set PARALLEL)"
fi
line "xargs -P2" xargs "$tasks"
awk -v n="$sleeps" -v m="${med[sleep12]}" -v lo="${lo[sleep12]}" -v hi="${hi[sleep12]}" -v inner="${imed[sleep12]}" \
  -v xm="${med[sleepx]}" -v xlo="${lo[sleepx]}" -v xhi="${hi[sleepx]}" 'BEGIN {
  ideal = n * 0.01 / 2
  printf "sleep 0.01    %6d tasks on 2 workers, ideal %.3f s\n", n, ideal
  printf "  inbatch 1x2   median %7.3f s  (%.3f-%.3f)  %.2fx ideal  (inbatch'"'"'s own clock: %.3f s)\n", m, lo, hi, m / ideal, inner
  printf "  xargs -P2     median %7.3f s  (%.3f-%.3f)  %.2fx ideal\n", xm, xlo, xhi, xm / ideal
}'
awk -v m1="${med[one12]}" -v i1="${imed[one12]}" -v m2="${med[one21]}" -v i2="${imed[one21]}" -v n="$tasks" \
  -v t="${med[true12]}" -v lo1="${lo[one12]}" -v hi1="${hi[one12]}" -v lo2="${lo[one21]}" -v hi2="${hi[one21]}" 'BEGIN {
  printf "inbatch, 1 task (its fixed cost)\n"
  printf "  1 rank        median %7.3f s  (%.3f-%.3f)  (inbatch'"'"'s own clock: %.3f s)\n", m1, lo1, hi1, i1
  printf "  2 ranks       median %7.3f s  (%.3f-%.3f)  (inbatch'"'"'s own clock: %.3f s)\n", m2, lo2, hi2, i2
  if (t > m1) printf "  so inbatch 1x2 = %.3f s fixed + %.3f ms a task\n", m1, (t - m1) / n * 1000
  else printf "  (too few tasks to tell inbatch 1x2'"'"'s cost a task from its fixed cost)\n"
}'
awk -v m="${med[true12]}" -v p="${med[parallel]:-}" -v x="${med[xargs]}" -v s="${med[sleep12]}" -v n="$sleeps" 'BEGIN {
  printf "\nbench_exec  goals for inbatch 1x2  (ratios of the medians; goals are targets, not failures)\n"
  if (p == "") printf "  %-44s %8s   >= 5x     skipped (no GNU parallel)\n", "throughput / GNU parallel -j2", "-"
  else printf "  %-44s %7.2fx   >= 5x     %s\n", "throughput / GNU parallel -j2", p / m, (p / m >= 5 ? "met" : "MISSED")
  printf "  %-44s %7.2fx   >= 0.9x   %s\n", "throughput / xargs -P2", x / m, (x / m >= 0.9 ? "met" : "MISSED")
  ideal = n * 0.01 / 2
  printf "  %-44s %7.2fx   <= 1.1x   %s\n", sprintf("%d x sleep 0.01: wall / ideal (%.2f s)", n, ideal), s / ideal,
    (s / ideal <= 1.1 ? "met" : "MISSED")
}'
