#!/bin/bash
# run_bench_h5.sh: inbatch's HDF5 layer against hand-written parallel HDF5 and h5py, interleaved, on 2 ranks.
#
# Creates the inputs once (random float32, fixed seed): `items` rows of side x side for case plain and
# `deflate_items` rows for case deflate (smaller: zlib level 1 is ~40 MB/s per core, so that case is
# compression-bound for every program). Then `reps` rounds; each round runs every variant of a case once, in an
# order that rotates from round to round, each in its own mpiexec -n 2 (one timed run per process, after it
# has read the input and touched BENCH_WARM_MIB MiB per rank: see bench_h5.c). Variants:
#   plain:   inbatch (schedule dynamic, the default) and inbatch_static, inbatch_resumable (a resumable output:
#            the file flushed, with MPI-IO synced to disk, at the end of a batch at most every INB_H5_FLUSH_MS
#            milliseconds; INB_H5_FLUSH_MS=0 in the environment: every batch), collective, independent (hand-written,
#            bench_h5.c), h5py and h5py_direct (h5py_bench.py:
#            as usually written, y[a:b] = 2 * x[a:b] + 1; and tuned, read_direct into one buffer, in place)
#   deflate: inbatch, collective, h5py        (HDF5 1.10 writes compressed datasets collectively only)
# Figures: GB/s = (input bytes read + output bytes written) / wall time of the run, 1 GB = 10^9 bytes, the
# same for every program; best and median of the rounds; ratios are of the best figures.
# Goals (targets, never failures): plain: inbatch >= 0.9x the better hand-written variant, >= 1.5x h5py;
# deflate: inbatch >= 0.95x the hand-written one. (The h5py goal is against h5py as usually written; h5py_direct
# is printed for information: it makes the same HDF5 calls as the hand-written program.)
#
# Usage: tests/bench/run_bench_h5.sh [items] [side] [deflate_items] [reps] [batch]
#        defaults: 4096 256 512 5 256   (4096 x 256 x 256 float32 = 1 GiB; batch = inbatch's batch_size in items,
#        the hand-written programs and h5py walk their slabs in pieces of batch/2 items per rank)
# Environment (all optional):
#   BENCH_H5          the bench_h5 executable (default: build/tests/bench/bench_h5 of this tree)
#   BENCH_DIR         where the files go (default /dev/shm, a tmpfs: no disk writeback in the figures; else
#                     $TMPDIR or /tmp); a fresh directory is made there and removed at the end
#   BENCH_WARM_MIB    memory each rank touches before its timed run (default 1024: 2 GiB over 2 ranks)
#   MPIEXEC           default mpiexec
#   MPIEXEC_PREFLAGS  default "--oversubscribe", plus "--allow-run-as-root" as root
#   PYTHON            default /usr/bin/python3 (Debian's, with python3-h5py-mpi and python3-mpi4py)
#   BENCH_VERBOSE     set: print every run's result line as it comes
#   BENCH_RETRIES     how often a run disturbed by other processes (they used > 10% of a core while it ran) is
#                     repeated before it counts anyway (default 2)
# The h5py variants are skipped, with a message, when $PYTHON has no h5py with MPI, mpi4py or numpy.
# Exit status: a failing program's (a wrong result, bad arguments), 2 for bad arguments here; 0 otherwise.
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
if [ $# -gt 5 ]; then
  echo "usage: $0 [items] [side] [deflate_items] [reps] [batch]" >&2
  exit 2
fi
items=${1:-4096}
side=${2:-256}
zitems=${3:-512}
reps=${4:-5}
batch=${5:-256}
for v in "$items" "$side" "$zitems" "$reps" "$batch"; do
  case $v in '' | *[!0-9]* | 0*) echo "run_bench_h5: arguments must be positive integers; found '$v'" >&2; exit 2 ;; esac
done
bin=${BENCH_H5:-$here/../../build/tests/bench/bench_h5}
mpiexec=${MPIEXEC:-mpiexec}
python=${PYTHON:-/usr/bin/python3}
export BENCH_WARM_MIB=${BENCH_WARM_MIB:-1024}
retries=${BENCH_RETRIES:-2}
case $retries in '' | *[!0-9]*) echo "run_bench_h5: BENCH_RETRIES must be a number; found '$retries'" >&2; exit 2 ;; esac
if [ -z "${MPIEXEC_PREFLAGS+set}" ]; then
  MPIEXEC_PREFLAGS=--oversubscribe
  [ "$(id -u)" = 0 ] && MPIEXEC_PREFLAGS="--allow-run-as-root $MPIEXEC_PREFLAGS"
fi
read -r -a preflags <<<"$MPIEXEC_PREFLAGS"
if [ ! -x "$bin" ]; then
  echo "run_bench_h5: bench_h5 not found at '$bin' (build it, or set BENCH_H5)" >&2
  exit 2
fi
base=${BENCH_DIR:-}
if [ -z "$base" ]; then
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then base=/dev/shm; else base=${TMPDIR:-/tmp}; fi
fi
dir=$(mktemp -d "$base/bench_h5.XXXXXX") || exit 1
log=$dir/results
trap 'rm -rf "$dir"' EXIT
fstype=$(stat -f -c %T "$dir" 2>/dev/null || echo unknown)
[ "$fstype" = ext2/ext3 ] && fstype=ext4   # stat cannot tell ext4 from ext2/3

mpirun2() { "$mpiexec" -n 2 "${preflags[@]}" -x BENCH_WARM_MIB "$@"; }

"$mpiexec" -n 1 "${preflags[@]}" "$bin" create "$dir/in.h5" "$items" "$side" || exit $?
"$mpiexec" -n 1 "${preflags[@]}" "$bin" create "$dir/inz.h5" "$zitems" "$side" || exit $?

have_h5py=1
if ! "$mpiexec" -n 1 "${preflags[@]}" "$python" -c \
     'import numpy, mpi4py, h5py, sys; sys.exit(0 if h5py.get_config().mpi else 1)' >/dev/null 2>&1; then
  have_h5py=0
fi

gb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1e9 }'; }
echo "bench_h5  ranks=2  files in $dir ($fstype$([ "$fstype" = tmpfs ] && echo ': memory, no disk writeback'))" \
     " reps=$reps (interleaved, order rotating; one mpiexec per run; before each: input read, $BENCH_WARM_MIB MiB" \
     "touched per rank)"
echo "bench_h5  GB/s = (input bytes read + output bytes written) / wall time, 1 GB = 10^9 B; best and median of" \
     "$reps; inbatch: target mpi, local threads, n_workers 1 per rank, batch_size $batch; hand-written and h5py:" \
     "slabs in pieces of $((batch / 2 > 0 ? batch / 2 : 1)) items per rank; every output checked bit for bit"
[ $have_h5py = 1 ] || echo "bench_h5  case=plain,deflate  variant=h5py,h5py_direct  SKIPPED: $python cannot import h5py with MPI," \
                            "mpi4py and numpy (Debian: apt-get install python3-h5py-mpi python3-mpi4py)"

# One timed run: case variant -> appends "case variant seconds bytes others_cpu" to $log. A run during which
# other processes used more than 10% of a core (and 0.05 s: /proc/stat counts in 0.01 s) is repeated, up to
# $retries more times (the last one counts).
run_one() {
  local c=$1 v=$2 in out line rc rec attempt direct
  in=$dir/in.h5
  [ "$c" = deflate ] && in=$dir/inz.h5
  out=$dir/out.$v.h5
  for ((attempt = 0; attempt <= retries; attempt++)); do
    if [ "$v" = h5py ] || [ "$v" = h5py_direct ]; then
      direct=()
      [ "$v" = h5py_direct ] && direct=(--direct)
      line=$(mpirun2 "$python" "$here/h5py_bench.py" "$c" "$in" "$out" "$batch" "${direct[@]}")
    else
      line=$(mpirun2 "$bin" run "$v" "$c" "$in" "$out" "$batch")
    fi
    rc=$?
    rm -f "$out" "$dir/.out.$v.h5.inbatch-partial" "$dir/.out.$v.h5.inbatch-errors"
    if [ $rc -ne 0 ]; then
      [ -n "$line" ] && echo "$line"
      echo "run_bench_h5: ERROR case=$c variant=$v failed (exit $rc)" >&2
      exit $rc
    fi
    rec=$(echo "$line" | sed -n 's/^bench_h5 result case=\([a-z]*\) variant=\([a-z0-9_]*\) .* seconds=\([0-9.]*\) bytes=\([0-9]*\) others_cpu=\([-0-9.]*\) check=ok$/\1 \2 \3 \4 \5/p')
    if [ -z "$rec" ] || [ "${rec%% *}" != "$c" ]; then
      echo "run_bench_h5: ERROR case=$c variant=$v: unexpected output: $line" >&2
      exit 1
    fi
    [ -n "${BENCH_VERBOSE:-}" ] && echo "  $line"
    # shellcheck disable=SC2086
    if awk -v s="$(echo $rec | cut -d' ' -f3)" -v o="$(echo $rec | cut -d' ' -f5)" 'BEGIN { exit !(o > 0.1 * s && o > 0.05) }'; then
      if [ $attempt -lt "$retries" ]; then echo "$c $v" >>"$dir/repeated"; continue; fi
    fi
    break
  done
  echo "$rec" >>"$log"
}

for c in plain deflate; do
  variants=(inbatch collective)
  [ "$c" = plain ] && variants+=(inbatch_static inbatch_resumable independent)
  [ $have_h5py = 1 ] && variants+=(h5py)
  [ $have_h5py = 1 ] && [ "$c" = plain ] && variants+=(h5py_direct)
  nv=${#variants[@]}
  for ((r = 0; r < reps; r++)); do
    for ((k = 0; k < nv; k++)); do run_one "$c" "${variants[$(((r + k) % nv))]}"; done
  done
done

repeated=0
[ -f "$dir/repeated" ] && repeated=$(wc -l <"$dir/repeated")
awk -v items="$items" -v zitems="$zitems" -v side="$side" -v reps="$reps" -v have_h5py="$have_h5py" \
    -v repeated="$repeated" -v retries="$retries" '
function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t } }
function verdict(ok) { return ok ? "met" : "MISSED" }
function size(b) { return b >= 1e8 ? sprintf("%.2f GB", b / 1e9) : b >= 1e5 ? sprintf("%.2f MB", b / 1e6) : sprintf("%.1f kB", b / 1e3) }
{ k = $1 SUBSEP $2; n[k]++; t[k, n[k]] = $3; bytes[k] = $4; if ($5 > 0.1 * $3 && $5 > 0.05) noisy[$1]++; runs[$1]++ }
function stats(c, v,   k, i, a, m) {
  k = c SUBSEP v
  if (!(k in n)) return 0
  m = n[k]
  for (i = 1; i <= m; i++) a[i] = t[k, i]
  sort(a, m)
  best_s[k] = a[1]
  med_s[k] = m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  best[k] = bytes[k] / 1e9 / best_s[k]
  med[k] = bytes[k] / 1e9 / med_s[k]
  return 1
}
# The plain line of one of our variants, with its ratios (kept in r_hw[v] and r_py[v] for the summary).
function ours(v, what,   m_hw, m_py) {
  r_hw[v] = best["plain", v] / best["plain", hw]; m_hw = med["plain", v] / med["plain", hw]
  printf "bench_h5  case=plain    variant=%-14s best=%6.2f GB/s (%.3fs)  median=%6.2f GB/s (%.3fs)  (%s)  " \
         "vs hand-written %s=%.2fx (median %.2fx) goal>=0.9x %s", v, best["plain", v], best_s["plain", v],
         med["plain", v], med_s["plain", v], what, hw, r_hw[v], m_hw, verdict(r_hw[v] >= 0.9)
  if (have_h5py) {
    r_py[v] = best["plain", v] / best["plain", "h5py"]; m_py = med["plain", v] / med["plain", "h5py"]
    printf "  vs h5py=%.2fx (median %.2fx) goal>=1.5x %s  vs h5py_direct=%.2fx", r_py[v], m_py, verdict(r_py[v] >= 1.5),
           best["plain", v] / best["plain", "h5py_direct"]
  }
  printf "\n"
}
function line(c, v, what) {
  printf "bench_h5  case=%-7s  variant=%-14s best=%6.2f GB/s (%.3fs)  median=%6.2f GB/s (%.3fs)  (%s)\n", c, v,
         best[c, v], best_s[c, v], med[c, v], med_s[c, v], what
}
END {
  split("inbatch inbatch_static collective independent h5py h5py_direct inbatch_resumable", vs, " ")
  for (ci = 1; ci <= 2; ci++) { c = ci == 1 ? "plain" : "deflate"; for (vi = 1; vi <= 7; vi++) stats(c, vs[vi]) }
  # plain
  printf "bench_h5  case=plain    %d items of %dx%d float32: %s in + %s out, output contiguous\n", items, side, side,
         size(bytes["plain", "inbatch"] / 2), size(bytes["plain", "inbatch"] / 2)
  line("plain", "collective", "hand-written parallel HDF5, collective transfers")
  line("plain", "independent", "hand-written parallel HDF5, independent transfers")
  if (have_h5py) line("plain", "h5py", "h5py mpio + mpi4py as usually written: y[a:b] = 2 * x[a:b] + 1, independent")
  if (have_h5py) line("plain", "h5py_direct", "h5py tuned: read_direct into one buffer, 2x+1 in place; for information")
  hw = best["plain", "collective"] >= best["plain", "independent"] ? "collective" : "independent"
  ours("inbatch", "schedule dynamic, the default")
  ours("inbatch_static", "schedule static: equal shares, for items of equal cost")
  ours("inbatch_resumable", "a resumable output: flushed at the end of a batch at most every INB_H5_FLUSH_MS")
  # deflate
  printf "bench_h5  case=deflate  %d items of %dx%d float32 (fewer than plain: zlib-bound): %s in + %s out," \
         " output chunked 1 item (1x%dx%d), deflate level 1\n", zitems, side, side, size(bytes["deflate", "inbatch"] / 2),
         size(bytes["deflate", "inbatch"] / 2), side, side
  line("deflate", "collective", "hand-written parallel HDF5, collective transfers: the only kind HDF5 1.10 allows here")
  if (have_h5py) line("deflate", "h5py", "h5py mpio + mpi4py as usually written, collective writes")
  r_z = best["deflate", "inbatch"] / best["deflate", "collective"]; m_z = med["deflate", "inbatch"] / med["deflate", "collective"]
  printf "bench_h5  case=deflate  variant=inbatch        best=%6.2f GB/s (%.3fs)  median=%6.2f GB/s (%.3fs)  " \
         "vs hand-written collective=%.2fx (median %.2fx) goal>=0.95x %s", best["deflate", "inbatch"],
         best_s["deflate", "inbatch"], med["deflate", "inbatch"], med_s["deflate", "inbatch"], r_z, m_z, verdict(r_z >= 0.95)
  if (have_h5py) printf "  vs h5py=%.2fx", best["deflate", "inbatch"] / best["deflate", "h5py"]
  printf "\n"

  printf "\nbench_h5  summary  (best of %d, interleaved; ratios of the best GB/s; goals are targets, not failures)\n", reps
  printf "  %-46s %9s   %-9s %s\n", "figure", "measured", "goal", ""
  for (vi = 1; vi <= 2; vi++) {
    v = vi == 1 ? "inbatch" : "inbatch_static"
    printf "  %-46s %8.2fx   %-9s %s\n", "plain: " v " / hand-written " hw, r_hw[v], ">= 0.9x", verdict(r_hw[v] >= 0.9)
    if (have_h5py) printf "  %-46s %8.2fx   %-9s %s\n", "plain: " v " / h5py", r_py[v], ">= 1.5x", verdict(r_py[v] >= 1.5)
    else printf "  %-46s %9s   %-9s %s\n", "plain: " v " / h5py", "-", ">= 1.5x", "SKIPPED (no h5py with MPI)"
  }
  printf "  %-46s %8.2fx   %-9s %s\n", "deflate: inbatch / hand-written collective", r_z, ">= 0.95x", verdict(r_z >= 0.95)
  if (have_h5py) printf "  %-46s %8.2fx   %-9s\n", "plain: inbatch_static / h5py_direct",
                        best["plain", "inbatch_static"] / best["plain", "h5py_direct"], ""
  printf "  %-46s %8.2fx   %-9s\n", "plain: inbatch_resumable / inbatch (the flushes)",
         best["plain", "inbatch_resumable"] / best["plain", "inbatch"], ""
  printf "  %-46s %8.2fx   %-9s\n", "plain: hand-written independent / collective",
         best["plain", "independent"] / best["plain", "collective"], ""
  for (ci = 1; ci <= 2; ci++) {
    c = ci == 1 ? "plain" : "deflate"
    if (noisy[c]) printf "  (%s: %d of %d runs had other processes using more than 10%% of a core even after %d repeats:" \
                         " figures less reliable)\n", c, noisy[c], runs[c], retries
  }
  if (repeated) printf "  (%d runs were repeated because other processes used more than 10%% of a core meanwhile)\n", repeated
}' "$log"
