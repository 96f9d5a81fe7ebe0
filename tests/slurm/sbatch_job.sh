#!/usr/bin/env bash
# Jobs submitted with `sbatch slurm/inbatch.sbatch` to the one-node cluster of tests/slurm/cluster.sh, checked
# from what Slurm says of them (scontrol show job: JobState, ExitCode) and from what they wrote.
# Usage: sbatch_job.sh CASE   (environment: SLURM_CONF, the cluster's; INBATCH, MAKE_IMAGES, MPIEXEC, MPIFLAGS,
#        SBATCH_SCRIPT (slurm/inbatch.sbatch), JOBS (the jobs/ folder), WORK: a scratch directory)
# Cases:
#   hdf5     an HDF5 job (jobs/scale_clip.yaml) on 2 tasks completes and writes what `mpirun -n 2` writes
#   farm     a command-farming job (jobs/farm/seeds.yaml) on 2 tasks runs every task once, on both ranks
#   bad_job  a job file error fails the Slurm job with inbatch's status 1 and its error line in the output file
#   requeue  USR1 to the batch script (Slurm's warning before the time limit) stops a command-farming job
#            (status 75): the job requeues itself, and its restart resumes and completes, every task once
#   cancel   scancel stops it too (inbatch exits 75 on TERM), but the job is cancelled, not requeued
#   array    a command-farming job submitted as a job array (--array=1-4): each array task runs its shard, and
#            `inbatch merge` writes what an unsharded run writes (but its times and ranks)
#   requeue_hdf5  the same for a pipeline over HDF5: stopped by USR1 at a batch's end, requeued, resumed from
#            its partial output; the output equals `mpirun -n 2`'s
#   standin  the template's requeue path with a stand-in for inbatch (USR1 -> 75 -> requeued -> restart -> 0)
# Exit status 77 (ctest: skipped) when SLURM_CONF is unset: no cluster was started (not root, or no Slurm).
set -uo pipefail
# shellcheck source=../common/check.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common/check.sh"
case_name="$1"
if [[ -z "${SLURM_CONF:-}" ]]; then
  echo "SKIPPED: no Slurm cluster (SLURM_CONF is unset). tests/run-tests.sh starts one when run as root with"
  echo "Slurm installed; by hand: sudo tests/slurm/cluster.sh start DIR, then export SLURM_CONF=DIR/slurm.conf"
  exit 77
fi
if [[ ! -f "$(dirname "$SLURM_CONF")/pids" ]]; then
  echo "SKIPPED: SLURM_CONF=$SLURM_CONF is not a cluster started by tests/slurm/cluster.sh (no pids file beside"
  echo "it): the tests submit only to their own one-node cluster"
  exit 77
fi
if ! timeout 10 sinfo -h -o %T >/dev/null; then
  echo "FAIL: the cluster of SLURM_CONF=$SLURM_CONF does not answer (sinfo failed):"
  echo "      tests/slurm/cluster.sh status $(dirname "$SLURM_CONF")"
  exit 1
fi
work="${WORK:?}/$case_name"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
failures=0 checks=0
job_id=""
# A job this test submitted never outlives it.
trap '[[ -z "$job_id" ]] || scancel "$job_id" 2>/dev/null' EXIT


# submit [SBATCH OPTION...] -- JOB [RUN OPTION...]: sbatch of the template on 2 tasks; sets job_id; the job's
# output (stdout and stderr) goes to slurm.out.
submit() {
  local opts=()
  while [[ "$1" != -- ]]; do opts+=("$1"); shift; done
  shift
  job_id="$(sbatch --parsable -n 2 -J "inb-test-$case_name" -o "$work/slurm.out" -D "$work" "${opts[@]}" \
    "${SBATCH_SCRIPT:?}" "$@" </dev/null)" || { echo "FAIL sbatch refused the job"; exit 1; }
  job_id="${job_id%%;*}"
  echo "submitted job $job_id: sbatch -n 2 ${opts[*]} $(basename "$SBATCH_SCRIPT") $*"
}

field() { scontrol show job "$job_id" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n1; }

# wait_gone: until squeue no longer lists the job (bounded: 45 s); on time-out the job is shown and cancelled
# (the EXIT trap), and the test fails.
wait_gone() {
  local limit=45 t
  for ((t = 0; t < limit * 5; t++)); do
    [[ -z "$(squeue -h -j "$job_id" -o %T 2>/dev/null)" ]] && return 0
    sleep 0.2
  done
  echo "FAIL job $job_id still in the queue after $limit s:"
  scontrol show job "$job_id" | sed 's/^/       /'
  [[ -f slurm.out ]] && sed 's/^/       /' slurm.out
  exit 1
}

# wait_state STATE [SECONDS]: until the job's JobState is STATE (bounded, default 30 s).
wait_state() {
  local want="$1" limit="${2:-30}" t
  for ((t = 0; t < limit * 10; t++)); do
    [[ "$(field JobState)" == "$want" ]] && return 0
    sleep 0.1
  done
  echo "FAIL job $job_id not $want after $limit s (JobState=$(field JobState)):"
  [[ -f slurm.out ]] && sed 's/^/       /' slurm.out
  exit 1
}

# ended STATE EXITCODE: the finished job's JobState and ExitCode (status:signal) as Slurm reports them.
ended() {
  local state exit_code
  state="$(field JobState)" exit_code="$(field ExitCode)"
  check "job $job_id: JobState=$state ExitCode=$exit_code (expected $1 $2)" \
    test "$state $exit_code" = "$1 $2"
  if [[ "$state $exit_code" != "$1 $2" && -f slurm.out ]]; then sed 's/^/       /' slurm.out; fi
}

case "$case_name" in
hdf5)
  "${MAKE_IMAGES:?}" images.h5 64 16
  run_opts=(--set "input.file=$work/images.h5")
  # shellcheck disable=SC2086  # MPIFLAGS is a list of flags
  "${MPIEXEC:?}" -n 2 $MPIFLAGS "${INBATCH:?}" run "$JOBS/scale_clip.yaml" "${run_opts[@]}" \
    --set "output.file=$work/direct.h5" </dev/null 2>direct.stderr || { cat direct.stderr; exit 1; }
  submit -- "$JOBS/scale_clip.yaml" "${run_opts[@]}" --set "output.file=$work/slurm.h5"
  wait_gone
  ended COMPLETED 0:0
  # One MPI job of 2 ranks (srun --mpi=pmix), not 2 one-rank runs writing the same file.
  check "inbatch's summary is in the job's output file" has slurm.out "64 items"
  check "inbatch ran on 2 ranks under srun" has slurm.out "on 2 ranks"
  # The same objects, then every dataset (values and attributes) equal: the provenance attributes of the root
  # group (times, hosts, --set values) legitimately differ, as in tests/jobs/identical.sh.
  check "the same objects as the mpirun output" \
    test "$(h5ls -r slurm.h5 2>&1)" = "$(h5ls -r direct.h5 2>&1)"
  mapfile -t datasets < <(h5ls -r direct.h5 | awk '$2 == "Dataset" {print $1}')
  check "the output has datasets (${datasets[*]})" test "${#datasets[@]}" -ge 3
  same() { # h5diff of one dataset, its report shown only when they differ
    local report
    report="$(h5diff direct.h5 slurm.h5 "$1" "$1" 2>&1)" || { printf '%s\n' "$report" | sed 's/^/       /'; return 1; }
  }
  for d in "${datasets[@]}"; do
    check "$d equals the mpirun output's (h5diff)" same "$d"
  done
  ;;
farm)
  cp -r "$JOBS/farm/." . && rm -rf runs ./*.results.tsv
  submit -- "$work/seeds.yaml"
  wait_gone
  ended COMPLETED 0:0
  results="$work/seeds.results.tsv"
  check "the results file exists" test -f "$results"
  [[ -f "$results" ]] || { echo "$checks checks, $failures failed"; exit 1; }
  check "every task 0..99 listed once" \
    test "$(awk -F'\t' '!/^#/ {print $1}' "$results" | sort -n | tr '\n' ' ')" = "$(seq 0 99 | tr '\n' ' ')"
  check "every task done" test "$(awk -F'\t' '!/^#/ && $8 == "done"' "$results" | wc -l)" = 100
  check "tasks ran on both ranks" test "$(awk -F'\t' '!/^#/ {print $2}' "$results" | sort -u | tr '\n' ' ')" = "0 1 "
  check "every task's output written" test "$(find runs -name '*.txt' -size +0 | wc -l)" = 100
  ;;
bad_job)
  sed 's/^output:/batch_sise: 16\noutput:/' "$JOBS/scale_clip.yaml" >bad.yaml # a misspelt field
  line="$(grep -n '^batch_sise:' bad.yaml | cut -d: -f1)"
  "${MAKE_IMAGES:?}" images.h5 8 4
  submit -- "$work/bad.yaml" --set "input.file=$work/images.h5" --set "output.file=$work/out.h5"
  wait_gone
  ended FAILED 1:0
  check "the output file has inbatch's error line" has slurm.out "job '$work/bad.yaml' line $line col 1: unknown field 'batch_sise'"
  check "nothing written" test ! -e out.h5
  ;;
requeue | cancel)
  # 20 tasks of 0.5 s, one at a time on each of 2 ranks (about 5 s); each task says it started, so the signal
  # comes mid-run.
  cat >job.yaml <<'EOF'
input:
  count: 20
output:
  results: results.tsv
pipeline:
  - action: exec
    argv: [sh, -c, 'touch "started.$INBATCH_INDEX"; sleep 0.5']
    cwd: .
    n_workers: 1
EOF
  started() { # wait until 3 tasks have started (bounded: 30 s): one has ended, and a rank journals a task's
    local t   # outcome before it starts its next task
    for ((t = 0; t < 300; t++)); do
      (($(find . -maxdepth 1 -name 'started.*' | wc -l) >= 3)) && return 0
      sleep 0.1
    done
    echo "FAIL 3 tasks did not start within 30 s"; sed 's/^/       /' slurm.out; exit 1
  }
  submit -- "$work/job.yaml"
  started
  if [[ "$case_name" == cancel ]]; then
    # scancel: Slurm sends TERM to the tasks, inbatch stops (75), and the template does not requeue.
    scancel "$job_id"
    wait_gone
    check "scancel: JobState=CANCELLED Restarts=0 (got $(field JobState) $(field Restarts))" \
      test "$(field JobState) $(field Restarts)" = "CANCELLED 0"
    check "scancel: not requeued" bash -c "! grep -q requeueing slurm.out"
    check "scancel: no results file" test ! -e results.tsv
  else
    # The warning before the time limit, sent now: the template passes it to srun, inbatch stops (75), the job
    # requeues itself, and its restart resumes the journaled run.
    scancel --batch --signal=USR1 "$job_id"
    wait_state PENDING
    check "requeued once (Restarts=1)" test "$(field Restarts)" = 1
    check "USR1 reached inbatch" has slurm.out "inbatch: stopped by SIGUSR1"
    check "the template requeues" has slurm.out "inbatch stopped early (status 75): requeueing job $job_id"
    # Not the 2 minutes Slurm holds a requeued job, but not "now" either: a restart in the second of the
    # requeue is refused by slurmd ("Job credential revoked") and the job fails.
    scontrol update "jobid=$job_id" StartTime=now+2
    wait_gone
    ended COMPLETED 0:0
    check "the restart says so" has slurm.out "restart 1: resuming"
    check "inbatch resumes its run" has slurm.out "inbatch: resuming: "
    check "every task 0..19 listed once" \
      test "$(awk -F'\t' '!/^#/ {print $1}' results.tsv | sort -n | tr '\n' ' ')" = "$(seq 0 19 | tr '\n' ' ')"
    check "every task done" test "$(awk -F'\t' '!/^#/ && $8 == "done"' results.tsv | wc -l)" = 20
  fi
  ;;
requeue_hdf5)
  # 200 images of 8x8, about 50 ms each (a kernel that spins), every 10th failing: about 5 s on 2 ranks; the
  # failure records of each batch (one each) go to the side file as batches end, so the signal comes mid-run.
  "${MAKE_IMAGES:?}" images.h5 200 8
  cat >job.yaml <<'EOF'
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
    args: {spin: 200000000}
    src: images
    dst: y
EOF
  # shellcheck disable=SC2086  # MPIFLAGS is a list of flags
  "${MPIEXEC:?}" -n 2 $MPIFLAGS "${INBATCH:?}" run job.yaml --set pipeline.0.args.spin=0 \
    --set output.file=direct.h5 </dev/null 2>direct.stderr
  check "the uninterrupted run: exit 3 (every 10th item fails)" test $? = 3
  submit -- "$work/job.yaml"
  for ((t = 0; t < 300; t++)); do # 3 batches recorded (their failure records in the side file)
    [[ -e .out.h5.inbatch-errors && $(stat -c %s .out.h5.inbatch-errors) -ge 768 ]] && break
    sleep 0.1
  done
  scancel --batch --signal=USR1 "$job_id"
  wait_state PENDING
  check "requeued once (Restarts=1)" test "$(field Restarts)" = 1
  check "the pipeline kept its partial" has slurm.out "the partial output is kept"
  scontrol update "jobid=$job_id" StartTime=now+2 # see case requeue
  wait_gone
  ended FAILED 3:0
  check "the restart resumes the partial" has slurm.out "inbatch: resuming: "
  check "the output equals mpirun's (h5diff /y)" h5diff out.h5 direct.h5 /y /y
  check "and its results table" h5diff out.h5 direct.h5 /inbatch_results /inbatch_results
  check "20 failure records, as mpirun's" test "$(h5dump -H -d /inbatch_errors out.h5 | grep -c '( 20 )')" = 1
  ;;
array)
  # 30 tasks over 4 array tasks (2 ranks each); the same job run unsharded with mpirun for the reference.
  cat >job.yaml <<'EOF'
input:
  count: 30
output:
  results: results.tsv
pipeline:
  - action: exec
    argv: [sh, -c, 'echo "{index}" >> runs.log; [ "{index}" != 13 ]']
    cwd: .
    log: discard
EOF
  # shellcheck disable=SC2086  # MPIFLAGS is a list of flags
  INBATCH_NO_ARRAY=1 SLURM_ARRAY_TASK_ID=1 "${MPIEXEC:?}" -n 2 $MPIFLAGS "${INBATCH:?}" run job.yaml \
    --set output.results=whole.tsv </dev/null 2>direct.stderr
  check "the unsharded run: exit status 3 (task 13 fails)" test $? = 3
  rm -f runs.log
  job_id="$(sbatch --parsable -n 2 --array=1-4 -J "inb-test-$case_name" -o "$work/slurm-%a.out" -D "$work" \
    "${SBATCH_SCRIPT:?}" "$work/job.yaml" </dev/null)" || { echo "FAIL sbatch refused the job"; exit 1; }
  job_id="${job_id%%;*}"
  echo "submitted job array $job_id: sbatch -n 2 --array=1-4 $(basename "$SBATCH_SCRIPT") job.yaml"
  wait_gone
  for k in 0 1 2 3; do
    check "shard $k of 4 written" test -f "results.shard-$k-of-4.tsv"
    check "array task $((k + 1)) says its shard" has "slurm-$((k + 1)).out" "inbatch: array shard $k of 4: tasks"
  done
  check "every task ran once" test "$(sort -n runs.log | tr '\n' ' ')" = "$(seq 0 29 | tr '\n' ' ')"
  "${INBATCH:?}" merge job.yaml </dev/null >merge.out 2>&1
  check "merge: exit status 3 (task 13 failed)" test $? = 3
  check "merge says so" has merge.out "1 of 30 tasks failed"
  # all but the rank, start and runtime columns
  columns() { grep -v '^#' "$1" | cut -f1,5-; }
  check "merged results equal the unsharded run's (but times and ranks)" \
    test "$(columns results.tsv)" = "$(columns whole.tsv)"
  ;;
standin)
  # The template's own logic, with a stand-in for inbatch that stops on USR1 with 75 and completes on a restart:
  # deterministic, whatever inbatch's state (the same path with the real inbatch is case requeue).
  cat >fake-inbatch <<'EOF'
#!/bin/bash
echo "stand-in[$SLURM_PROCID]: $* (restart ${SLURM_RESTART_COUNT:-0})"
((${SLURM_RESTART_COUNT:-0} == 0)) || exit 0
trap 'echo "stand-in[$SLURM_PROCID]: USR1, stopping"; exit 75' USR1
touch "ready.$SLURM_PROCID"
for ((i = 0; i < 600; i++)); do sleep 0.1 & wait $!; done
exit 9
EOF
  chmod +x fake-inbatch
  INBATCH="$work/fake-inbatch" submit -- job.yaml --set a=b
  for ((t = 0; t < 300; t++)); do # its traps are set only when it says so (bounded: 30 s)
    [[ -e ready.0 && -e ready.1 ]] && break
    sleep 0.1
  done
  [[ -e ready.0 && -e ready.1 ]] || { echo "FAIL the stand-in did not start within 30 s"; exit 1; }
  scancel --batch --signal=USR1 "$job_id"
  wait_state PENDING
  check "requeued once (Restarts=1)" test "$(field Restarts)" = 1
  check "USR1 reached both tasks" has slurm.out "stand-in[1]: USR1, stopping"
  check "the template says it requeues" has slurm.out "inbatch stopped early (status 75): requeueing job $job_id"
  scontrol update "jobid=$job_id" StartTime=now+2 # see case requeue
  wait_gone
  ended COMPLETED 0:0
  check "the restart says it resumes" has slurm.out "restart 1: resuming"
  check "the arguments reach inbatch run" has slurm.out "stand-in[0]: run job.yaml --set a=b (restart 1)"
  check "one output file, appended to" has slurm.out "stand-in[0]: run job.yaml --set a=b (restart 0)"
  ;;
*)
  echo "sbatch_job.sh: unknown case '$case_name'" >&2
  exit 2
  ;;
esac
job_id=""
echo "$checks checks, $failures failed"
((failures == 0))
