#!/usr/bin/env bash
# Runs one job of jobs/ through the command on a small dataset made for it, then checks the output against an
# independent computation (check_job.py, numpy).
# Usage: run_job.sh JOB.yaml NAME NP EXPECTED_STATUS [RUN_OPTION]...   (environment: INBATCH, MAKE_IMAGES,
#        MPIEXEC, MPIFLAGS, WORK: the test's scratch directory)
set -euo pipefail
job="$1" name="$2" np="$3" want="$4"
shift 4
work="${WORK:?}/$(basename "$job" .yaml).np$np" # by the job file: two tests may check with one NAME
rm -rf "$work" && mkdir -p "$work"
"${MAKE_IMAGES:?}" "$work/images.h5" 64 16
status=0
# shellcheck disable=SC2086  # MPIFLAGS is a list of flags
"${MPIEXEC:?}" -n "$np" $MPIFLAGS "${INBATCH:?}" run "$job" --set "input.file=$work/images.h5" \
  --set "output.file=$work/out.h5" "$@" </dev/null >"$work/stdout" 2>"$work/stderr" || status=$?
cat "$work/stderr"
if [[ "$status" != "$want" ]]; then
  echo "run_job.sh: $name on $np rank(s) exited with $status; expected $want" >&2
  exit 1
fi
leftover=$(find "$work" -name '.*.inbatch-*')
if [[ -n "$leftover" ]]; then # the partial and the scratch file of a pipeline in passes go at commit
  echo "run_job.sh: $name on $np rank(s) left $leftover" >&2
  exit 1
fi
/usr/bin/python3 "$(dirname "$0")/check_job.py" "$name" "$work/images.h5" "$work/out.h5"
