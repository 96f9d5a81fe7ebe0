#!/bin/bash
# run_bench_mpi_balance.sh: bench_mpi_balance (2 ranks) and the same costs through mpi4py.futures (1 manager +
# 2 workers), one after the other, then their comparison.
#
# Usage: tests/bench/run_bench_mpi_balance.sh [ntasks] [total_seconds]     defaults: 400 8
# Environment (all optional):
#   BENCH_MPI_BALANCE  the bench_mpi_balance executable (default: build/tests/bench/bench_mpi_balance of this tree)
#   MPIEXEC            default mpiexec
#   MPIEXEC_PREFLAGS   default "--oversubscribe", plus "--allow-run-as-root" as root
#   PYTHON             default /usr/bin/python3 (Debian's, which has python3-mpi4py; not the python3 on PATH)
# The two programs run one after the other, never inside each other (mpirun under an MPI rank is fragile with
# Open MPI). The mpi4py.futures run is skipped, with a message, when $PYTHON cannot import mpi4py.futures.
# Exit status: the first failing program's (a wrong result, bad arguments); 0 otherwise. Never fails on time.
set -u -o pipefail

here=$(cd "$(dirname "$0")" && pwd)
ntasks=${1:-400}
total=${2:-8}
if [ $# -gt 2 ]; then
  echo "usage: $0 [ntasks] [total_seconds]" >&2
  exit 2
fi
bin=${BENCH_MPI_BALANCE:-$here/../../build/tests/bench/bench_mpi_balance}
mpiexec=${MPIEXEC:-mpiexec}
python=${PYTHON:-/usr/bin/python3}
if [ -z "${MPIEXEC_PREFLAGS+set}" ]; then
  MPIEXEC_PREFLAGS=--oversubscribe
  [ "$(id -u)" = 0 ] && MPIEXEC_PREFLAGS="--allow-run-as-root $MPIEXEC_PREFLAGS"
fi
read -r -a preflags <<<"$MPIEXEC_PREFLAGS"
if [ ! -x "$bin" ]; then
  echo "run_bench_mpi_balance: bench_mpi_balance not found at '$bin' (build it, or set BENCH_MPI_BALANCE)" >&2
  exit 2
fi

costs=$(mktemp "${TMPDIR:-/tmp}/bench_mpi_balance.costs.XXXXXX") || exit 1
log=$(mktemp "${TMPDIR:-/tmp}/bench_mpi_balance.out.XXXXXX") || exit 1
trap 'rm -f "$costs" "$log"' EXIT

# CPU ticks: every process on the machine (/proc/stat: user nice system irq softirq steal); this shell's
# waited-for children (/proc/$$/stat: cutime cstime, which take in mpiexec's ranks once it has waited for them).
machine_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
children_ticks() { awk '{print $16+$17}' "/proc/$$/stat"; }

# Field `name=<number>` of the line holding `case=<which>` in file $3.
field() { sed -n "s|.*case=$1 .* $2=\([0-9.][0-9.]*\).*|\1|p" "$3" | head -n 1; }

"$mpiexec" -n 2 "${preflags[@]}" "$bin" "$ntasks" "$total" "$costs" | tee "$log"
rc=$?
[ $rc -eq 0 ] || exit $rc

if ! "$python" -c 'import mpi4py.futures' 2>/dev/null; then
  echo "bench_mpi_balance  case=mpi4py.futures  SKIPPED: $python cannot import mpi4py.futures" \
       "(Debian: apt-get install python3-mpi4py)"
  exit 0
fi
over=()
case " $MPIEXEC_PREFLAGS " in *" --oversubscribe "*) ;; *) over=(--oversubscribe) ;; esac  # 3 processes, 2 slots
m0=$(machine_ticks) c0=$(children_ticks) w0=$(date +%s.%N)
"$mpiexec" -n 3 "${preflags[@]}" "${over[@]}" "$python" -m mpi4py.futures "$here/mpi4py_balance.py" "$costs" \
  | tee -a "$log"
rc=$?
[ $rc -eq 0 ] || exit $rc
m1=$(machine_ticks) c1=$(children_ticks) w1=$(date +%s.%N)
awk -v m="$((m1 - m0))" -v c="$((c1 - c0))" -v w0="$w0" -v w1="$w1" -v tck="$(getconf CLK_TCK)" 'BEGIN {
  wall = w1 - w0; others = (m - c) / tck; if (others < 0) others = 0   # ticks: 10 ms granularity
  printf "bench_mpi_balance    mpi4py.futures: other processes %.2fs CPU during the %.1fs run (start-up included)%s\n",
         others, wall, (others > 0.1 * wall ? " (a busy machine: figures unreliable)" : "")
}'

dyn=$(field dynamic makespan "$log")
dyn_ratio=$(field dynamic makespan/ideal "$log")
py=$(field mpi4py.futures makespan "$log")
py_ratio=$(field mpi4py.futures makespan/ideal "$log")
if [ -z "$dyn" ] || [ -z "$py" ] || [ -z "$dyn_ratio" ] || [ -z "$py_ratio" ]; then
  echo "run_bench_mpi_balance: ERROR could not read the makespans from the programs' output" >&2
  exit 1
fi
awk -v d="$dyn" -v p="$py" -v dr="$dyn_ratio" -v pr="$py_ratio" 'BEGIN {
  speed = p / d
  printf "bench_mpi_balance  dynamic vs mpi4py: %.2fx faster%s  (makespan %.3fs vs %.3fs; makespan/ideal %.3f vs %.3f)" \
         "  goal>1 %s\n", speed, (speed < 1 ? " (below 1: slower)" : ""), d, p, dr, pr, (speed > 1 ? "met" : "MISSED")
  printf "\nbench_mpi_balance  summary with the peer  (one run each; goals are targets, not failures)\n"
  printf "  %-34s %9.3f   %-9s %s\n", "dynamic: makespan / ideal", dr, "<= 1.05", (dr <= 1.05 ? "met" : "MISSED")
  printf "  %-34s %8.2fx   %-9s %s\n", "dynamic: speed-up over mpi4py", speed, "> 1", (speed > 1 ? "met" : "MISSED")
}'
