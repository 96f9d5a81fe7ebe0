#!/usr/bin/env bash
# inbatch's test command (the README's): install what is missing, build, test, test again under sanitizers.
#
#   sudo tests/run-tests.sh            # or, as root: tests/run-tests.sh
#   tests/run-tests.sh --help
#
# Phases, in order (each prints "== <name>" and its duration; a summary line per phase closes the run):
#   packages     Debian packages the project needs (dpkg-query); installs the missing ones when root.
#   plain build  RelWithDebInfo, -Wall -Wextra -Werror, in build/;       ctest -LE faults (bench smoke too), with a
#                one-node Slurm cluster (tests/slurm/cluster.sh) up for the tests labelled slurm.
#   asan+ubsan   Debug, -DINB_SANITIZE=address, in build-asan/;          ctest -LE slurm (the fault-injection
#                walk runs here, where a leak or an overflow on an error path shows too).
#   tsan         RelWithDebInfo, -DINB_SANITIZE=thread, in build-tsan/;  ctest -LE "bench|faults|slurm".
#   fuzz         clang builds of the wire-format, message-framing and job-file fuzzers in build-fuzz/; 60 s, 30 s
#                and 30 s from their seed corpora (INB_FUZZ_SECONDS changes the first, half of it the others).
# A failing build or test phase does not stop the later ones; the exit status is non-zero if any failed.
#
# Slurm: as root with Slurm installed, the plain phase starts munge, slurmctld and slurmd under a scratch directory
# (/tmp/inbatch-slurm.*) and stops them by PID when the phase ends, also on failure or Ctrl-C; otherwise (not root,
# or --no-install without Slurm) the slurm tests are skipped and say why.
# Environment: CTEST_PARALLEL_LEVEL (default: serial, because MPI tests oversubscribe 4 ranks on 2 cores),
# CMAKE_BUILD_PARALLEL_LEVEL (default: nproc), INB_TEST_TIMEOUT (seconds per test without its own
# TIMEOUT property, default 600).
# The phase functions are called indirectly (run_phase NAME FUNCTION), which shellcheck cannot follow.
# shellcheck disable=SC2317
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: tests/run-tests.sh [--quick] [--no-install] [--install-only] [--help]

Builds inbatch and runs its whole test suite (unit, MPI, HDF5, README programs, benchmark smoke) three times:
a plain RelWithDebInfo build with -Werror (build/), an ASan+UBSan build (build-asan/) and a
TSan build (build-tsan/), the fault-injection walk in the ASan build only, then the fuzzers. The plain
run starts a one-node Slurm cluster (as root) for the tests of jobs submitted with sbatch; without root they
are skipped. Works from any directory; the build directories are inside the repository.

First it checks the Debian 12 packages the project needs. If some are missing and you are root,
it installs them (apt-get update; apt-get install); otherwise it prints the apt-get command and exits 1.

Options:
  --quick       plain build and its tests only (no sanitizer builds)
  --no-install  skip the package check/installation
  --install-only  check/install the packages, then stop (the demo command uses this)
  -h, --help    show this help

Environment:
  CTEST_PARALLEL_LEVEL        run that many tests at once (default 1: MPI tests oversubscribe the cores)
  CMAKE_BUILD_PARALLEL_LEVEL  compile jobs (default: nproc)
  INB_TEST_TIMEOUT            per-test timeout in seconds for tests that set none (default 600)

Exit status: 0 if every phase passed, 1 otherwise.
EOF
}

quick=0
install=1
install_only=0
while (($#)); do
  case "$1" in
    --quick) quick=1 ;;
    --no-install) install=0 ;;
    --install-only) install_only=1 ;;
    -h | --help) usage; exit 0 ;;
    *) printf 'run-tests.sh: unknown option: %s\n\n' "$1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

# The repository root is the parent of this script's directory, wherever the clone is and whatever the cwd.
repo_root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$repo_root"

# What the project needs now and in its next issues (see the design notes' ENVIRONMENT.md).
packages=(
  build-essential cmake pkg-config
  openmpi-bin libopenmpi-dev
  libhdf5-openmpi-dev hdf5-tools
  libuv1-dev libyaml-dev libcmocka-dev
  liblz4-dev libzstd-dev libblosc-dev
  clang libclang-rt-14-dev
  python3-mpi4py python3-h5py-mpi
  # h5py reading the compressed outputs: Debian's hdf5plugin embeds no filter, so the LZ4 and Blosc plugins come
  # apart, and Zstd (no Debian plugin) is decoded chunk by chunk with python3-zstandard
  python3-hdf5plugin hdf5-filter-plugin hdf5-filter-plugin-blosc-serial python3-zstandard
  # GNU parallel: bench_exec's baseline for command farming
  parallel
  # Slurm for the slurm tests (a one-node cluster, tests/slurm/cluster.sh): slurmctld and slurmd (the daemons),
  # slurm-client (sbatch, srun, squeue, scontrol, sinfo), munge (authentication); srun's pmix plugin comes with
  # them (slurm-wlm-basic-plugins)
  slurmctld slurmd slurm-client munge
)

is_root=0
if [[ "$(id -u)" == 0 ]]; then
  is_root=1
  # Open MPI refuses to run as root without these, and these machines have only 2 slots. Exported, so
  # every mpirun/mpiexec started by ctest inherits them.
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1

build_jobs="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
test_timeout="${INB_TEST_TIMEOUT:-600}"
supp_dir="$repo_root/tests/sanitizers"

# ---------------------------------------------------------------------------------------------------------
# Phase bookkeeping

phase_names=()
phase_results=()
phase_times=()
failed=0

fmt_duration() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# run_phase NAME FUNCTION: runs FUNCTION in a subshell with errexit (so the first failing command ends
# the phase, not the script), prints its header and duration, and records the result in phase_rc (and
# `failed`). It always returns 0: never call it from `if`/`||`/`&&`, where bash would disable errexit
# inside the phase, even for an explicit `set -e` there.
phase_rc=0
run_phase() {
  local name="$1" fn="$2" start rc elapsed
  printf '\n== %s\n' "$name"
  start=$SECONDS
  set +e
  (
    set -euo pipefail
    "$fn"
  )
  rc=$?
  set -e
  elapsed=$((SECONDS - start))
  phase_names+=("$name")
  phase_times+=("$(fmt_duration "$elapsed")")
  if ((rc == 0)); then
    phase_results+=("PASS")
    printf '== %s: PASS (%s)\n' "$name" "$(fmt_duration "$elapsed")"
  else
    phase_results+=("FAIL (exit $rc)")
    printf '== %s: FAIL, exit status %d (%s)\n' "$name" "$rc" "$(fmt_duration "$elapsed")"
    failed=1
  fi
  phase_rc=$rc
}

print_summary() {
  local i
  printf '\n== summary\n'
  for i in "${!phase_names[@]}"; do
    printf '%-14s %-16s %s\n' "${phase_names[$i]}" "${phase_results[$i]}" "${phase_times[$i]}"
  done
  printf '%-14s %-16s %s\n' "total" "$( ((failed)) && echo FAIL || echo PASS)" "$(fmt_duration "$SECONDS")"
}

# ---------------------------------------------------------------------------------------------------------
# Phases

missing_packages() {
  local p status
  for p in "${packages[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
    [[ "$status" == installed ]] || printf '%s\n' "$p"
  done
}

phase_packages() {
  if ! command -v dpkg-query >/dev/null; then
    echo "dpkg-query not found: this script installs Debian 12 packages. On another system install the" >&2
    echo "equivalents of: ${packages[*]}" >&2
    echo "and run tests/run-tests.sh --no-install" >&2
    return 1
  fi
  local missing=()
  mapfile -t missing < <(missing_packages)
  if ((${#missing[@]} == 0)); then
    echo "all ${#packages[@]} needed packages are installed"
  else
    local cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
    if ((!is_root)); then
      echo "missing packages: ${missing[*]}" >&2
      echo "install them as root, then run this again:" >&2
      echo "  sudo sh -c '$cmd'" >&2
      echo "(or run the whole test command as root: sudo tests/run-tests.sh)" >&2
      return 1
    fi
    echo "installing missing packages: ${missing[*]}"
    apt-get update </dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
    mapfile -t missing < <(missing_packages)
    if ((${#missing[@]} != 0)); then
      echo "still missing after apt-get install: ${missing[*]}" >&2
      return 1
    fi
  fi
  # Open MPI must actually start ranks (as root, oversubscribed), or every MPI test would fail obscurely.
  if ! timeout 60 mpirun -n 2 true </dev/null; then
    echo "mpirun -n 2 true failed: Open MPI cannot start processes on this machine" >&2
    return 1
  fi
  echo "mpirun -n 2 true: ok"
}

# build_and_test DIR CTEST_ARGS... : configure (all options explicit, so a stale cache cannot change the
# build), build with every core, run ctest. CMake options for the configure come from the array cmake_args.
build_and_test() {
  local dir="$1" cache_home
  shift
  # A build directory configured for another source tree (the repository was moved or copied) cannot be
  # reused: CMake refuses it. Start it over.
  if [[ -f "$repo_root/$dir/CMakeCache.txt" ]]; then
    cache_home="$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$repo_root/$dir/CMakeCache.txt")"
    if [[ "$cache_home" != "$repo_root" ]]; then
      echo "$dir/ was configured for $cache_home: removing it"
      rm -rf -- "${repo_root:?}/$dir"
    fi
  fi
  cmake -S "$repo_root" -B "$repo_root/$dir" "${cmake_args[@]}"
  cmake --build "$repo_root/$dir" -j"$build_jobs"
  # Serial unless CTEST_PARALLEL_LEVEL says otherwise (ctest reads it itself). No stdin for the tests:
  # mpirun forwards stdin to rank 0. --no-tests=error: an empty test list is a broken build, not a pass.
  ctest --test-dir "$repo_root/$dir" --output-on-failure --no-tests=error --timeout "$test_timeout" "$@" </dev/null
}

# ---- Slurm ----------------------------------------------------------------------------------------------
# A one-node Slurm cluster (tests/slurm/cluster.sh: munge, slurmctld, slurmd, as root, everything under a scratch
# directory) for the tests labelled slurm. slurm_start is called by the plain phase, in its subshell: the EXIT
# trap it sets there stops the daemons (by PID) when that phase ends, passed, failed or interrupted. The tests
# find the cluster through SLURM_CONF; without it they are skipped (ctest exit code 77) and say why.
slurm_dir=""
slurm_stop() {
  [[ -n "$slurm_dir" ]] || return 0
  "$repo_root/tests/slurm/cluster.sh" stop "$slurm_dir" || true
  rm -rf -- "$slurm_dir"
  slurm_dir=""
}
slurm_start() {
  local sbin_path="$PATH:/usr/sbin:/sbin" p
  unset SLURM_CONF # never a cluster of the caller's environment: only the one started here
  if ((!is_root)); then
    echo "slurm: not root: no Slurm cluster, the slurm tests will be skipped"
    return 0
  fi
  for p in slurmctld slurmd munged sbatch; do
    if ! PATH="$sbin_path" command -v "$p" >/dev/null; then
      echo "slurm: '$p' not found (packages slurmctld slurmd slurm-client munge): the slurm tests will be skipped"
      return 0
    fi
  done
  slurm_dir="$(mktemp -d /tmp/inbatch-slurm.XXXXXX)"
  # bash runs the EXIT trap when SIGINT or SIGTERM ends the shell too (checked with bash 5.2); an INT trap that
  # exits instead would let the main script go on to the next phase after a Ctrl-C.
  trap slurm_stop EXIT
  # As root with Slurm installed, a cluster that does not start is a failure of the phase, not a skip.
  "$repo_root/tests/slurm/cluster.sh" start "$slurm_dir"
  export SLURM_CONF="$slurm_dir/slurm.conf"
}

phase_plain() {
  cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DINB_SANITIZE= -DINB_WERROR=ON
              -DINB_BUILD_TESTS=ON -DINB_BUILD_BENCH=ON)
  slurm_start
  build_and_test build -LE faults
}

phase_asan() {
  cmake_args=(-DCMAKE_BUILD_TYPE=Debug -DINB_SANITIZE=address -DINB_WERROR=ON
              -DINB_BUILD_TESTS=ON -DINB_BUILD_BENCH=ON)
  # Open MPI leaks ~120 KB at MPI_Finalize: lsan.supp silences Open MPI and its libraries only.
  # Exported variables reach MPI ranks too: mpirun forwards its environment to local ranks.
  export ASAN_OPTIONS="fast_unwind_on_malloc=0:detect_leaks=1"
  export LSAN_OPTIONS="suppressions=$supp_dir/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  # Open MPI unloads its components at MPI_Finalize, before LeakSanitizer looks: what they leaked then has no
  # module name to suppress by (an "<unknown module>" frame) and fails a test at random. Keep them loaded.
  export OMPI_MCA_mca_base_component_disable_dlclose=1
  build_and_test build-asan -LE slurm
}

phase_tsan() {
  cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DINB_SANITIZE=thread -DINB_WERROR=ON
              -DINB_BUILD_TESTS=ON -DINB_BUILD_BENCH=ON)
  export TSAN_OPTIONS="suppressions=$supp_dir/tsan.supp:halt_on_error=1:second_deadlock_stack=1"
  # Benchmarks are still built (they must compile), but their smoke runs are skipped: too slow under TSan.
  build_and_test build-tsan -LE "bench|faults|slurm"
}

phase_fuzz() {
  # libFuzzer needs clang: a separate clang build of the fuzz target only, then a short run from the seeds.
  # New inputs go to build-fuzz/, never into the source tree.
  local dir="$repo_root/build-fuzz"
  cmake -S "$repo_root" -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DINB_SANITIZE= -DINB_WERROR=ON -DINB_BUILD_TESTS=ON -DINB_BUILD_BENCH=OFF
  cmake --build "$dir" -j"$build_jobs" --target fuzz_unpack fuzz_frames fuzz_job
  local seconds="${INB_FUZZ_SECONDS:-60}"
  mkdir -p "$dir/corpus-new" "$dir/frames-corpus-new"
  "$dir/tests/fuzz/fuzz_unpack" "$dir/corpus-new" "$repo_root/tests/fuzz/corpus" \
    -max_total_time="$seconds" -timeout=10 -artifact_prefix="$dir/" -print_final_stats=1 </dev/null
  "$dir/tests/fuzz/fuzz_frames" "$dir/frames-corpus-new" "$repo_root/tests/fuzz/frames_corpus" \
    -max_total_time="$((seconds / 2 > 0 ? seconds / 2 : 1))" -timeout=10 -artifact_prefix="$dir/frames-" \
    -print_final_stats=1 </dev/null
  mkdir -p "$dir/job-corpus-new"
  "$dir/tests/fuzz/fuzz_job" "$dir/job-corpus-new" "$repo_root/tests/fuzz/job_corpus" \
    -max_total_time="$((seconds / 2 > 0 ? seconds / 2 : 1))" -timeout=10 -artifact_prefix="$dir/job-" \
    -print_final_stats=1 </dev/null
}

# ---------------------------------------------------------------------------------------------------------
# Main

printf 'inbatch tests: repo %s, %s cores, %s, user %s%s\n' "$repo_root" "$(nproc)" \
  "$( ((quick)) && echo quick || echo full)" "$(id -un)" "${CI:+, CI}"

if ((install)); then
  run_phase packages phase_packages
  if ((phase_rc != 0)); then
    print_summary
    exit 1
  fi
fi
if ((install_only)); then exit 0; fi
printf '%s\n' "$(cmake --version | head -n1); $(cc --version | head -n1); $(mpirun --version 2>/dev/null | head -n1)"

run_phase "plain build" phase_plain
if ((!quick)); then
  run_phase "asan+ubsan" phase_asan
  run_phase "tsan" phase_tsan
  run_phase "fuzz" phase_fuzz
fi

print_summary
exit "$failed"
