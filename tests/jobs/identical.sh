#!/usr/bin/env bash
# The random steps of a job (p, and the noise action's draws) are keyed by the seed, the step and the item: the
# output must be bit-identical on 1 rank, 2 ranks static and 2 ranks dynamic (h5diff of the dataset).
# A reduction's figures (attributes of the output) too: they are merged on rank 0 in item order.
# Usage: identical.sh JOB.yaml DATASET [ATTRIBUTE]...   (environment: INBATCH, MAKE_IMAGES, MPIEXEC, MPIFLAGS, WORK)
set -euo pipefail
job="$1" dataset="$2"
shift 2
work="${WORK:?}/identical.$(basename "$job" .yaml)"
rm -rf "$work" && mkdir -p "$work"
"${MAKE_IMAGES:?}" "$work/images.h5" 64 16
run() { # NAME NP SCHEDULE
  local status=0
  # shellcheck disable=SC2086  # MPIFLAGS is a list of flags
  "${MPIEXEC:?}" -n "$2" $MPIFLAGS "${INBATCH:?}" run "$job" --set "input.file=$work/images.h5" \
    --set "output.file=$work/$1.h5" --set "pipeline.0.schedule=$3" </dev/null 2>"$work/$1.stderr" || status=$?
  [[ "$status" == 0 || "$status" == 3 ]] || { cat "$work/$1.stderr"; exit 1; } # 3: items failed, as they must
}
run one 1 dynamic
run static 2 static
run dynamic 2 dynamic
h5diff "$work/one.h5" "$work/static.h5" "/$dataset" "/$dataset"
h5diff "$work/one.h5" "$work/dynamic.h5" "/$dataset" "/$dataset"
h5diff "$work/one.h5" "$work/dynamic.h5" /inbatch_results /inbatch_results
for attr in "$@"; do
  for other in static dynamic; do
    if ! diff <(h5dump -a "/$attr" "$work/one.h5" | tail -n +2) <(h5dump -a "/$attr" "$work/$other.h5" | tail -n +2); then
      echo "identical: attribute $attr differs between 1 rank and 2 ranks $other" >&2
      exit 1
    fi
  done
done
echo "identical: $dataset${*:+ and $*} the same on 1 rank, 2 ranks static and 2 ranks dynamic"
