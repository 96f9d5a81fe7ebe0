#!/usr/bin/env bash
# inbatch's main job (the README's demo command): installs what is missing, builds, and runs the job file
# jobs/normalize.yaml through the `inbatch` command on data it makes itself, on 2 MPI ranks.
#
#   jobs/run-demo.sh [--no-install] [--ranks N] [-- N_IMAGES [BATCH]]     e.g. jobs/run-demo.sh -- 20000 1024
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: jobs/run-demo.sh [--no-install] [--ranks N] [--help] [-- N_IMAGES [BATCH]]

Builds inbatch (Release, in build-demo/), writes build-demo/data/images.h5 (N_IMAGES synthetic 64x64 float32
images, default 2048; a few constant on purpose) if missing, and runs the job jobs/normalize.yaml with
`mpirun -n N inbatch run` (N default 2, batches of BATCH items, default 256): every image rescaled to [0, 1],
its edges found by a kernel (C in the job file, compiled at start into ~/.cache/inbatch) and its statistics
kept, in build-demo/data/normalized.h5, with /inbatch_results and /inbatch_errors listing
each image's outcome (the constant images fail with a message; the others go on). The command exits with 3
(finished, some items failed): the demo expects exactly that, and exits 0; any other status is its own.

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
images="${demo_args[0]:-2048}"
batch="${demo_args[1]:-256}"

root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$root"
if ((install)); then tests/run-tests.sh --install-only; fi

cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=Release -DINB_BUILD_TESTS=OFF >/dev/null
cmake --build build-demo -j"$(nproc)" --target inbatch_cli make_images >/dev/null
data="$root/build-demo/data"
mkdir -p "$data"
[[ -e "$data/images.h5" ]] || build-demo/jobs/make_images "$data/images.h5" "$images" 64
mpi_flags=(--oversubscribe)
if [[ "$(id -u)" == 0 ]]; then mpi_flags+=(--allow-run-as-root); fi
status=0
mpirun "${mpi_flags[@]}" -n "$ranks" build-demo/src/cli/inbatch run jobs/normalize.yaml --overwrite \
  --set "input.file=$data/images.h5" --set "output.file=$data/normalized.h5" --set "batch_size=$batch" || status=$?
cat <<EOT

look at it:
  h5ls -r build-demo/data/normalized.h5
  h5dump -d /inbatch_results -s 0 -c 10 build-demo/data/normalized.h5      # index, state, code, value
  h5dump -d /inbatch_errors build-demo/data/normalized.h5                  # the images that failed, and why
  h5dump -a inbatch_job build-demo/data/normalized.h5                      # the job that made it
EOT
if ((status == 3)); then
  echo "(the command's exit status 3: finished, some items failed - the planted constant images, as expected)"
  status=0
fi
exit "$status"
