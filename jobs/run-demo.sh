#!/usr/bin/env bash
# inbatch's main job (the README's demo command): installs what is missing, builds, and runs the demo on
# data it makes itself.
#
#   jobs/run-demo.sh [--no-install] [-- demo arguments]     e.g. jobs/run-demo.sh -- 20000 2
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: jobs/run-demo.sh [--no-install] [--help] [-- N_IMAGES [N_WORKERS]]

Builds inbatch (Release, in build-demo/) and runs the demo: a batch of N_IMAGES synthetic 64x64 images
(default 2000) normalized one task per image on the threads target with N_WORKERS workers (default 0:
every CPU this process may use), the per-image means gathered in task order by the action's post.
A few images are constant on purpose: their tasks fail with a message and the others go on.

First it checks the Debian packages the project needs and installs the missing ones when run as root
(otherwise it prints the apt-get command and stops).
USAGE
}

install=1
demo_args=()
while (($#)); do
  case "$1" in
    --no-install) install=0 ;;
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
cmake --build build-demo -j"$(nproc)" --target example_normalize >/dev/null
exec build-demo/jobs/example_normalize "${demo_args[@]}"
