#!/usr/bin/env bash
# A pipeline over HDF5 that stops resumes where it stopped: stopped by a signal (exit 75, the partial kept), or a
# rank killed (the job ends; the next run resumes); the resumed output equals an uninterrupted run's, every item
# once in its table and its failure records; another job's partial is refused; --restart starts over.
# Usage: resume_h5.sh CASE   (environment: INBATCH, MAKE_IMAGES, MPIEXEC, MPIFLAGS, WORK: a scratch directory)
# Cases: stop term kill foreign warning
set -uo pipefail
# shellcheck source=../common/check.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common/check.sh"
case_name="$1"
inbatch="${INBATCH:?}" work="${WORK:?}/resume_h5.$case_name"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
failures=0 checks=0
"${MAKE_IMAGES:?}" images.h5 200 8 >/dev/null || exit 1

# job FILE SPIN: a kernel that spins SPIN rounds per item (a slow job to stop), 2x + 1, every 10th item failing.
job() {
  cat >"$1" <<YAML
input: {file: images.h5, components: [images]}
batch_size: 8
output:
  file: out.h5
  datasets: [{name: y}]
pipeline:
  - kernel: |
      for (volatile long k = 0; k < (long)spin; k++) {}
      if (index % 10 == 3) fail("item %lld is unlucky", (long long)index);
      for (size_t j = 0; j < n; j++) y[j] = 2 * x[j] + 1;
    args: {spin: $2}
    src: images
    dst: y
YAML
}
job job.yaml 200000000
job fast.yaml 0
# the uninterrupted run, to compare with
"$inbatch" run fast.yaml --set output.file=ref.h5 </dev/null >ref.out 2>ref.err
check "the uninterrupted run: exit 3 (every 10th item fails)" test $? = 3

# start NP: the slow job in the background on NP ranks (sets launcher)
start() {
  # shellcheck disable=SC2086  # MPIFLAGS is a list of flags
  "${MPIEXEC:?}" -n "$1" $MPIFLAGS "$inbatch" run job.yaml </dev/null >run.out 2>run.err &
  launcher=$!
}
# progress N: waits until the failure records of N batches are on disk (each batch has one failing item)
progress() {
  local t
  for ((t = 0; t < 600; t++)); do
    [[ -e .out.h5.inbatch-errors && $(stat -c %s .out.h5.inbatch-errors) -ge $(($1 * 256)) ]] && return 0
    kill -0 "$launcher" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
ended() { wait_ended "$launcher"; } # within 60 s (no hang); sets status
# same: the committed out.h5 equals ref.h5 (rows, table; failure records as a set: ranks differ)
same() {
  h5diff out.h5 ref.h5 /y /y && h5diff out.h5 ref.h5 /inbatch_results /inbatch_results &&
    /usr/bin/python3 - <<'PY'
import sys, h5py
def recs(path):
    with h5py.File(path, "r") as f:
        e = f["inbatch_errors"][...]
        # the message without its first words, which name the job file ("kernel at fast.yaml line 8: ...")
        return sorted((int(r["index"]), int(r["code"]), bytes(r["message"]).split(b": ", 1)[1]) for r in e)
a, b = recs("out.h5"), recs("ref.h5")
if a != b:
    print(f"       failure records differ: {len(a)} against {len(b)}")
    sys.exit(1)
PY
}
resume() { # the next run (the same job, alone): resumes, finishes with 3, commits
  "$inbatch" run job.yaml </dev/null >out.txt 2>err.txt
  check "the next run: exit 3 (the unlucky items)" test $? = 3
  check "the next run says it resumes" has err.txt "resuming: "
  check "it did not start over" test "$(sed -n 's/.*resuming: \([0-9]*\) of 200.*/\1/p' err.txt)" -gt 0
  check "the output equals an uninterrupted run's" same
  check "no partial, side file or lock left" test -z "$(find . -name '.out.h5.inbatch-*' -o -name 'out.h5.journal')"
}

case "$case_name" in
stop) # SIGUSR1 to mpirun (as Slurm's warning reaches srun): it forwards it; exit 75, the partial kept; resume
  start 2
  check "some batches done" progress 3
  kill -USR1 "$launcher"
  ended
  check "stopped: exit 75 (status $status)" test "$status" = 75
  check "it says the partial is kept" has run.err "the partial output is kept"
  check "no output committed" test ! -e out.h5
  check "the partial is there" test -e .out.h5.inbatch-partial
  resume
  ;;
term) # SIGTERM to mpirun: it forwards it to the ranks (and ends with its own status): the partial is kept
  start 2
  check "some batches done" progress 3
  kill -TERM "$launcher"
  ended
  check "the job ended (no hang; status $status)" test "$status" != hung -a "$status" != 0
  check "it says the partial is kept" has run.err "the partial output is kept"
  check "no output committed" test ! -e out.h5
  resume
  ;;
kill) # a rank SIGKILLed: the job ends (Open MPI ends every rank); the next run resumes from the table
  start 2
  check "some batches done" progress 3
  mapfile -t ranks < <(pgrep -P "$launcher" -x inbatch)
  kill -KILL "${ranks[1]:-${ranks[0]}}"
  ended
  check "the job ended (no hang; status $status)" test "$status" != hung -a "$status" != 0
  check "no output committed" test ! -e out.h5
  resume
  ;;
foreign) # a partial of another job is refused, never trusted; --restart discards it
  "$inbatch" run job.yaml </dev/null >run.out 2>run.err & # alone: SIGTERM reaches it directly
  launcher=$!
  check "some batches done" progress 2
  kill -TERM "$launcher"
  ended
  check "stopped: exit 75" test "$status" = 75
  "$inbatch" run job.yaml --set pipeline.0.args.spin=1 </dev/null >out.txt 2>err.txt
  check "another job's partial: exit 1" test $? = 1
  check "it says why and what to do" has err.txt "is another job's"
  check "and names --restart" has err.txt "--restart"
  check "the partial is left as it was" test -e .out.h5.inbatch-partial
  "$inbatch" run job.yaml --set pipeline.0.args.spin=0 --restart </dev/null >out.txt 2>err.txt
  check "--restart: exit 3" test $? = 3
  check "--restart does not resume" test -z "$(grep resuming err.txt)"
  check "--restart: the output equals an uninterrupted run's" same
  ;;
warning) # a pipeline that cannot resume (a compressed output) notes the scheduler's warning and goes on
  sed 's/datasets: \[{name: y}\]/datasets: [{name: y, chunk_items: 8, deflate: 1}]/' job.yaml >deflate.yaml
  "$inbatch" run deflate.yaml </dev/null >run.out 2>run.err &
  launcher=$!
  for ((t = 0; t < 600; t++)); do [[ -e .out.h5.inbatch-partial ]] && break; sleep 0.1; done
  kill -USR1 "$launcher"
  ended
  check "it went on to the end: exit 3 (status $status)" test "$status" = 3
  check "it said why it goes on" has run.err "SIGUSR1 ignored: this job cannot stop early and resume"
  check "its output is committed" test -e out.h5
  ;;
*)
  echo "resume_h5.sh: unknown case '$case_name'" >&2
  exit 2
  ;;
esac
echo "resume_h5.sh $case_name: $checks checks, $failures failed"
((failures == 0))
