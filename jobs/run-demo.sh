#!/usr/bin/env bash
# inbatch's main job (the README's demo command): installs what is missing, builds, and runs the demo on
# data it makes itself: an HDF5 dataset of images normalized on 2 MPI ranks.
#
#   jobs/run-demo.sh [--no-install] [--ranks N] [-- N_IMAGES [BATCH]]     e.g. jobs/run-demo.sh -- 20000 1024
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: jobs/run-demo.sh [--no-install] [--ranks N] [--help] [-- N_IMAGES [BATCH]]

Builds inbatch (Release, in build-demo/) and runs the main job's demo under mpirun with N ranks (default 2):
it writes build-demo/data/images.h5 (N_IMAGES synthetic 64x64 float32 images, default 2048) if missing, then
normalizes every image on target mpi (each rank reads the rows of the tasks it runs and writes the rows it
computed) in batches of BATCH (default 256), printing a progress line per batch, and writes
build-demo/data/normalized.h5 with /normalized and the results table /inbatch_results. A few images are
constant on purpose: their tasks fail with a message, the others go on, and the table lists them.

First it checks the Debian packages the project needs and installs the missing ones when run as root
(otherwise it prints the apt-get command and stops).
USAGE
}

install=1
ranks=2
demo_args=()
while (($#)); do
  case "$1" in
    --no-install) install=0 ;;
    --ranks) shift; ranks="${1:?--ranks needs a number}" ;;
    -h | --help) usage; exit 0 ;;
    --) shift; demo_args=("$@"); break ;;
    *) printf 'run-demo.sh: unknown option: %s\n\n' "$1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$root"
if ((install)); then tests/run-tests.sh --install-only; fi

cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=Release -DINB_BUILD_TESTS=OFF >/dev/null
cmake --build build-demo -j"$(nproc)" --target example_h5_normalize >/dev/null
mkdir -p build-demo/data
mpi_flags=(--oversubscribe)
if [[ "$(id -u)" == 0 ]]; then mpi_flags+=(--allow-run-as-root); fi
mpirun "${mpi_flags[@]}" -n "$ranks" build-demo/jobs/example_h5_normalize build-demo/data "${demo_args[@]}"
echo "results table (first rows): h5dump -d /inbatch_results -c 8 build-demo/data/normalized.h5"
