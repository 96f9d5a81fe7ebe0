#!/bin/bash
# run_bench_cli.sh: the `inbatch` command against the C API and hand-written parallel HDF5, on 2 ranks.
#
# The x -> 2x + 1 job of run_bench_h5.sh (float32 rows of side x side), as a job file with the built-in `scale`,
# beside bench_h5's C API program (inb_h5_run, schedule static) and its hand-written parallel-HDF5 program
# (independent transfers), interleaved round by round; and the same job with a second step (clip, with bounds
# that change nothing) fused after it, to show what a step costs when no row is read twice or moved; and the
# same job as a kernel (C in the job file, compiled for this machine; its cache warmed before the timed runs); and
# the two steps in two passes (clip with other parallel options: scale's rows go to the scratch file and are read
# back), to show what a pass costs beside fused steps.
# All runs: 2 ranks, one worker per rank, schedule static, batches of `batch` items, files in /dev/shm.
# Figures: GB/s = (input bytes + output bytes) / seconds, best and median of `reps`. bench_h5 times its program
# from the input's open to the commit; the command times its run from the output's create to the commit (it
# prints "N items in S s"), after opening the input. Also printed: the time `inbatch validate` takes (1 rank), of
# the scale job and of the kernel job with an empty kernel cache (it compiles) and with the kernel cached.
# Goals (targets, never failures): the command >= 0.95x the C API program; two steps <= 1.15x one step's time;
# the kernel >= 0.95x the built-in scale.
#
# Usage: tests/bench/run_bench_cli.sh [items] [side] [reps] [batch]     defaults: 4096 256 5 256 (1 GiB in)
# Environment: BENCH_H5 (default build/tests/bench/bench_h5), INBATCH (default build/src/cli/inbatch), MPIEXEC,
# MPIEXEC_PREFLAGS, BENCH_WARM_MIB (bench_h5's warm-up, default 256).
set -u -o pipefail
here=$(cd "$(dirname "$0")" && pwd)
items=${1:-4096} side=${2:-256} reps=${3:-5} batch=${4:-256}
for v in "$items" "$side" "$reps" "$batch"; do
  case $v in '' | *[!0-9]* | 0*) echo "run_bench_cli: arguments must be positive integers; found '$v'" >&2; exit 2 ;; esac
done
bench_h5=${BENCH_H5:-$here/../../build/tests/bench/bench_h5}
inbatch=${INBATCH:-$here/../../build/src/cli/inbatch}
mpiexec=${MPIEXEC:-mpiexec}
export BENCH_WARM_MIB=${BENCH_WARM_MIB:-256}
if [ -z "${MPIEXEC_PREFLAGS+set}" ]; then
  MPIEXEC_PREFLAGS=--oversubscribe
  [ "$(id -u)" = 0 ] && MPIEXEC_PREFLAGS="--allow-run-as-root $MPIEXEC_PREFLAGS"
fi
read -r -a preflags <<<"$MPIEXEC_PREFLAGS"
for b in "$bench_h5" "$inbatch"; do
  [ -x "$b" ] || { echo "run_bench_cli: $b not found (build it, or set BENCH_H5 / INBATCH)" >&2; exit 2; }
done
base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
dir=$(mktemp -d "$base/bench_cli.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
export INBATCH_CACHE=$dir/cache
"$mpiexec" -n 1 "${preflags[@]}" "$bench_h5" create "$dir/in.h5" "$items" "$side" || exit $?

job() { # NAME STEPS...: a job file reading /x of in.h5, writing /y
  local name=$1
  shift
  {
    printf 'input: {file: in.h5, components: [x]}\nbatch_size: %s\noutput:\n  file: out.h5\n  datasets: [{name: y}]\npipeline:\n' "$batch"
    printf '%s\n' "$@"
  } >"$dir/$name.yaml"
}
opts='schedule: static, n_workers: 1, local: threads'
job one "  - {action: scale, src: x, dst: y, args: {a: 2, b: 1}, $opts}"
job two "  - {action: scale, src: x, dst: t, args: {a: 2, b: 1}, $opts}" \
        "  - {action: clip, src: t, dst: y, args: {lo: -1e30, hi: 1e30}, $opts}"
job passes "  - {action: scale, src: x, dst: t, args: {a: 2, b: 1}, $opts}" \
           "  - {action: clip, src: t, dst: y, args: {lo: -1e30, hi: 1e30}, $opts, retries: 1}"
job kernel "  - {kernel: 'for (size_t j = 0; j < n; j++) y[j] = (float)a * x[j] + (float)b;', src: x, dst: y, args: {a: 2, b: 1}, $opts}"
# validate ARGS...: seconds that `inbatch validate ARGS` takes (1 rank, wall)
validate() {
  local t0 t1
  t0=$(date +%s.%N)
  "$inbatch" validate "$@" >/dev/null 2>&1 || { echo "run_bench_cli: ERROR inbatch validate $* failed" >&2; exit 1; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}
t_compile=$(validate "$dir/kernel.yaml")   # an empty cache: compiles, and warms the cache for the timed runs
t_cached=$(validate "$dir/kernel.yaml")

# run VARIANT -> "seconds" of one timed run
run() {
  local line s
  case $1 in
    capi | handwritten)
      local v=inbatch_static
      [ "$1" = handwritten ] && v=independent
      line=$("$mpiexec" -n 2 "${preflags[@]}" -x BENCH_WARM_MIB "$bench_h5" run "$v" plain "$dir/in.h5" "$dir/out.h5" "$batch") || exit $?
      s=$(echo "$line" | sed -n 's/.* seconds=\([0-9.]*\) .*check=ok$/\1/p') ;;
    one | two | passes | kernel)
      line=$("$mpiexec" -n 2 "${preflags[@]}" "$inbatch" run "$dir/$1.yaml" --overwrite 2>&1) || { echo "$line" >&2; exit 1; }
      s=$(echo "$line" | sed -n 's/^inbatch: [0-9]* items in \([0-9.]*\) s .*/\1/p') ;;
  esac
  rm -f "$dir/out.h5"
  [ -n "$s" ] || { echo "run_bench_cli: ERROR variant $1: unexpected output: $line" >&2; exit 1; }
  echo "$s"
}

variants=(capi one two passes kernel handwritten)
nv=${#variants[@]}
declare -A times
for ((r = 0; r < reps; r++)); do
  for ((k = 0; k < nv; k++)); do
    v=${variants[$(((r + k) % nv))]}
    times[$v]="${times[$v]:-} $(run "$v")"
  done
done
bytes=$(awk -v n="$items" -v s="$side" 'BEGIN { printf "%.0f", 2 * n * s * s * 4 }')
stat() { echo "$1" | tr ' ' '\n' | grep . | sort -g | awk -v b="$bytes" '{ t[NR] = $1 } END { m = t[int((NR + 1) / 2)]; printf "%.4f %.4f %.2f %.2f", t[1], m, b / t[1] / 1e9, b / m / 1e9 }'; }
t_validate=$(validate "$dir/one.yaml")
echo "bench_cli  ranks=2  $items items of ${side}x${side} float32 ($(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 2e9 }') GB in, as much out), files in $dir, best and median of $reps, interleaved"
declare -A best
for v in handwritten capi one two passes kernel; do
  read -r b m gb gm <<<"$(stat "${times[$v]}")"
  best[$v]=$b
  case $v in
    handwritten) what="hand-written parallel HDF5 (independent transfers)" ;;
    capi) what="the C API (inb_h5_run, static)" ;;
    one) what="inbatch run, one step: scale" ;;
    two) what="inbatch run, two steps fused: scale then clip" ;;
    passes) what="inbatch run, the two steps in two passes (clip with retries: 1)" ;;
    kernel) what="inbatch run, the same as a kernel: y[j] = a * x[j] + b" ;;
  esac
  printf "bench_cli  variant=%-12s best=%6.2f GB/s (%.3fs)  median=%6.2f GB/s (%.3fs)  (%s)\n" "$v" "$gb" "$b" "$gm" "$m" "$what"
done
awk -v c="${best[capi]}" -v o="${best[one]}" -v t="${best[two]}" -v h="${best[handwritten]}" -v k="${best[kernel]}" \
  -v p="${best[passes]}" \
  -v val="$t_validate" -v comp="$t_compile" -v cached="$t_cached" 'BEGIN {
  printf "\nbench_cli  summary  (ratios of the best times; goals are targets, not failures)\n"
  printf "  %-46s %7.2fx   >= 0.95x  %s\n", "the command / the C API program (speed)", c / o, (c / o >= 0.95 ? "met" : "MISSED")
  printf "  %-46s %7.2fx   <= 1.15x  %s\n", "two fused steps / one step (time)", t / o, (t / o <= 1.15 ? "met" : "MISSED")
  printf "  %-46s %7.2fx   >= 0.95x  %s\n", "the kernel / the built-in scale (speed)", o / k, (o / k >= 0.95 ? "met" : "MISSED")
  printf "  %-46s %7.2fx\n", "two passes / two fused steps (time)", p / t
  printf "  %-46s %7.2fx\n", "the command / hand-written (speed)", h / o
  printf "  %-46s %7ss\n", "inbatch validate of the job (1 rank, wall)", val
  printf "  %-46s %7ss\n", "validate of the kernel job, compiling", comp
  printf "  %-46s %7ss\n", "validate of the kernel job, kernel cached", cached
}'
