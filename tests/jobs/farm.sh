#!/usr/bin/env bash
# Command farming end to end (action exec): real programs run through the command on 1 and 2 ranks, their
# outcomes read back from the results file and from what the tasks left on disk.
# Usage: farm.sh CASE   (environment: INBATCH, MPIEXEC, MPIFLAGS, WORK: a scratch directory)
# Cases: outcomes timeout retries missing once output injection env outputs rank_killed hdf5 resume kill_rounds retry_failed array big
set -uo pipefail
# shellcheck source=../common/check.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common/check.sh"
case_name="$1"
inbatch="${INBATCH:?}" work="${WORK:?}/farm.$case_name"
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
failures=0 checks=0


# farm NP STATUS [ARGS...]: inbatch run job.yaml on NP ranks (1: alone, without mpirun); checks its exit status;
# stdout and stderr kept in out.txt and err.txt.
farm() {
  local np="$1" want="$2" status=0
  shift 2
  if ((np == 1)); then
    "$inbatch" run job.yaml --overwrite "$@" </dev/null >out.txt 2>err.txt || status=$?
  else
    # shellcheck disable=SC2086  # MPIFLAGS is a list of flags
    "${MPIEXEC:?}" -n "$np" $MPIFLAGS "$inbatch" run job.yaml --overwrite "$@" </dev/null >out.txt 2>err.txt ||
      status=$?
  fi
  check "exit status $status (expected $want)" test "$status" = "$want"
  [[ "$status" == "$want" ]] || sed 's/^/       /' err.txt
}

# field INDEX COLUMN: a column of task INDEX's line in results.tsv (columns: index rank start runtime exit
# signal attempts state command message).
field() {
  awk -F'\t' -v i="$1" -v c="$2" '!/^#/ && $1 == i { print $c }' results.tsv
}
col() { # col INDEX NAME
  local names=(index rank start runtime exit signal attempts state command message) k
  for k in "${!names[@]}"; do [[ "${names[k]}" == "$2" ]] && field "$1" $((k + 1)); done
}
is() { [[ "$(col "$1" "$2")" == "$3" ]] || { echo "       task $1 $2: '$(col "$1" "$2")', expected '$3'"; false; }; }
like() { [[ "$(col "$1" "$2")" == *"$3"* ]] || { echo "       task $1 $2: '$(col "$1" "$2")', expected '*$3*'"; false; }; }
gone() { # gone PID...: every process has ended within $gone_s seconds (default 5; zombies count as ended)
  local pid t state
  for pid in "$@"; do
    for ((t = 0; t < ${gone_s:-5} * 10; t++)); do
      state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || true
      [[ -z "$state" || "$state" == Z ]] && break
      sleep 0.1
    done
    [[ -z "$state" || "$state" == Z ]] || { echo "       process $pid still runs: $(tr '\0' ' ' <"/proc/$pid/cmdline")"; return 1; }
  done
}
rows() { grep -vc '^#' results.tsv; }

job() { # job TASKS_LINE STEP_LINES...: a job over tasks.txt (or `count: N` when TASKS_LINE says so)
  local input="$1"
  shift
  {
    printf 'input:\n  %s\noutput:\n  results: results.tsv\n  logs: logs\npipeline:\n  - action: exec\n' "$input"
    printf '    %s\n' "$@"
  } >job.yaml
}

case "$case_name" in
outcomes) # exit statuses and signals, recorded per task; the run's status 3 and the first failures on stderr
  printf '%s\n' 'exit 0' 'exit 3' 'kill -TERM $$' 'kill -SEGV $$' 'echo fine' >tasks.txt
  job 'tasks: tasks.txt' 'argv: [sh, -c, "{}"]' 'log: discard'
  farm 1 3
  check "one line per task, in order" test "$(awk -F'\t' '!/^#/ {printf "%s ", $1}' results.tsv)" = "0 1 2 3 4 "
  check "task 0 done" is 0 state done
  check "task 1 exit 3" is 1 exit 3
  check "task 1 failed" is 1 state failed
  check "task 1's message" is 1 message "exit status 3"
  check "task 2 SIGTERM" is 2 signal SIGTERM
  check "task 2 no exit status" is 2 exit -
  check "task 3 SIGSEGV" is 3 signal SIGSEGV
  check "task 4 done" is 4 state done
  check "the command line" is 1 command "sh -c 'exit 3'"
  check "stderr names task 1" has err.txt "task 1 (line 2) failed on rank 0: exit status 3"
  check "stderr names task 3" has err.txt "killed by signal 11 (SIGSEGV)"
  check "stderr counts them" has err.txt "inbatch: 3 of 5 tasks failed:"
  job 'tasks: tasks.txt' 'argv: [sh, -c, "{}"]' 'log: discard' 'target: for' 'max_failures: 1'
  farm 1 3
  check "max_failures: the tasks after the stop not run" is 2 state not_run
  check "max_failures: every task listed" test "$(rows)" = 5
  check "max_failures: stderr says so" has err.txt "3 not run (the run stopped at max_failures)"
  ;;
timeout) # a timeout ends the whole process group: a grandchild that sleeps is gone too
  printf '%s\n' 'sleep 60 & echo $! > gc.pid; wait' 'trap "" TERM; sleep 60 & echo $! > gc2.pid; wait' >tasks.txt
  job 'tasks: tasks.txt' 'argv: [sh, -c, "{}"]' 'timeout: 1' 'grace: 1' 'log: discard'
  start=$(date +%s)
  farm 1 3
  check "within the timeouts (took $(($(date +%s) - start)) s)" test $(($(date +%s) - start)) -lt 20
  check "task 0 timed out" is 0 message "timed out after 1 s (SIGTERM)"
  check "task 0 by SIGTERM" is 0 signal SIGTERM
  check "task 1 (ignores SIGTERM) killed" is 1 message "timed out after 1 s (SIGTERM, then SIGKILL after 1 s)"
  check "grandchildren gone" gone "$(cat gc.pid)" "$(cat gc2.pid)"
  ;;
retries) # a flaky task (fails on its first attempt) succeeds on its retry; without retries it fails
  printf 'a\nb\n' >tasks.txt
  job 'tasks: tasks.txt' 'argv: [sh, -c, "if [ -e $0.tried ]; then echo ok > $0.done; else touch $0.tried; exit 1; fi", "{}"]' \
    'retries: 1' 'retry_delay: 0.2' 'log: discard'
  farm 1 0
  check "task 0 done on attempt 2" is 0 attempts 2
  check "task 1 done" is 1 state done
  check "its side effect once" test "$(cat a.done)" = ok
  rm -f ./*.tried ./*.done
  job 'tasks: tasks.txt' 'argv: [sh, -c, "if [ -e $0.tried ]; then exit 0; else touch $0.tried; exit 1; fi", "{}"]' \
    'log: discard'
  farm 1 3
  check "no retries: failed after 1 attempt" is 0 attempts 1
  ;;
missing) # a program that cannot run is the task's failure, with the reason, and the others run
  printf 'x\ny\n' >tasks.txt
  job 'tasks: tasks.txt' 'argv: ["/no/such/{}"]' 'log: discard'
  farm 1 3
  check "task 0 failed" is 0 state failed
  check "the reason" is 0 message "cannot run '/no/such/x': No such file or directory"
  check "not started: no exit status" is 0 exit -
  check "both tasks listed" test "$(rows)" = 2
  job 'tasks: tasks.txt' 'argv: [sh, -c, "echo {}"]' 'cwd: "no/dir/{}"' 'log: discard'
  farm 1 3
  check "a missing cwd is the task's failure" like 1 message "cannot enter './no/dir/y'"
  ;;
once) # 2 ranks x 2 workers, both schedules: every task runs exactly once; both ranks take part
  seq 0 199 >tasks.txt
  for schedule in static dynamic; do
    rm -f runs.log
    job 'tasks: tasks.txt' 'argv: [sh, -c, "echo $0 $INBATCH_RANK >> runs.log", "{}"]' "schedule: $schedule" \
      'n_workers: 2' 'log: discard'
    farm 2 0
    check "$schedule: 200 runs" test "$(wc -l <runs.log)" = 200
    check "$schedule: each task once" test "$(cut -d' ' -f1 runs.log | sort -n | uniq | wc -l)" = 200
    check "$schedule: both ranks ran tasks" test "$(cut -d' ' -f2 runs.log | sort -u | tr '\n' ' ')" = "0 1 "
    check "$schedule: the results' ranks are the runs'" test \
      "$(awk -F'\t' '!/^#/ {print $1, $2}' results.tsv | sort)" = "$(sort runs.log)"
    check "$schedule: 200 result lines" test "$(rows)" = 200
  done
  ;;
output) # 1 MB on stdout per task: to files, and tagged lines that never mix between tasks
  printf 'a\nb\n' >tasks.txt
  job 'tasks: tasks.txt' 'argv: [sh, -c, "yes {} | head -c 1048576"]' 'log: files' 'n_workers: 2'
  farm 1 0
  check "log file of 1 MB" test "$(stat -c %s logs/0.out)" = 1048576
  check "its text" test "$(sort -u logs/1.out)" = b
  check "stderr file empty" test "$(stat -c %s logs/0.err)" = 0
  job 'tasks: tasks.txt' 'argv: [sh, -c, "yes {}{}{} | head -c 1048576"]' 'log: tagged' 'n_workers: 2'
  farm 1 0
  check "every line whole and tagged with its task" test "$(grep -cvE $'^(0\taaa|1\tbbb)$' out.txt)" = 0
  check "every line of both tasks" test "$(wc -l <out.txt)" = $((2 * 1048576 / 4))
  ;;
injection) # a task's text stays one literal argument, with and without a shell
  cat >tasks.txt <<'EOF'
; touch pwned1
$(touch pwned2)
`touch pwned3`
'; touch pwned4; '
"$(touch pwned5)" && touch pwned6
a b	c *
EOF
  job 'tasks: tasks.txt' 'argv: [printf, "%s|", "{}", "{1}"]' 'log: files'
  farm 1 0
  for k in 0 1 2 3 4 5; do
    line="$(sed -n "$((k + 1))p" tasks.txt)"
    first="${line%%[ 	]*}"
    check "argv: task $k's text, literal" test "$(cat "logs/$k.out")" = "$line|$first|"
  done
  job 'tasks: tasks.txt' 'shell: true' "cmd: \"printf '%s|' {} {1} > {index}.sh.out\"" 'log: discard'
  farm 1 0
  for k in 0 1 2 3 4 5; do
    line="$(sed -n "$((k + 1))p" tasks.txt)"
    first="${line%%[ 	]*}"
    check "shell: task $k's text, literal" test "$(cat "$k.sh.out")" = "$line|$first|"
  done
  check "nothing injected ran" test "$(find . -name 'pwned*' | wc -l)" = 0
  ;;
env) # what a task is given: INBATCH_*, OMP_NUM_THREADS, the job's env, stdin /dev/null, cwd, placeholders
  printf '# a comment\n\nphotos/2024/img 01.tar.gz raw/a.b\r\n' >tasks.txt
  mkdir -p sub
  job 'tasks: tasks.txt' 'argv: [sh, -c, "env; pwd; cat; echo \"{/} {//} {.} {/.} {2.} {3/.} {#} {line}\""]' \
    'env: {MODE: fast, WHICH: "{index}-{1/}"}' 'n_workers: 1' 'log: files'
  farm 1 0  # alone: not bound to a core by mpirun, every core is the rank's
  check "INBATCH_INDEX" has logs/0.out "INBATCH_INDEX=0"
  check "INBATCH_LINE (comments and blank lines counted)" has logs/0.out "INBATCH_LINE=3"
  check "INBATCH_RANK" has logs/0.out "INBATCH_RANK=0"
  check "OMP_NUM_THREADS: the cores per worker" has logs/0.out "OMP_NUM_THREADS=$(nproc)"
  check "the job's env" has logs/0.out "MODE=fast"
  check "the job's env, expanded" has logs/0.out "WHICH=0-img"
  check "cwd: where inbatch started" has logs/0.out "$work"$'\n'
  check "placeholders" has logs/0.out "a.b photos/2024/img 01.tar.gz raw photos/2024/img 01.tar.gz raw/a a 01.tar a 1 3"
  job 'tasks: tasks.txt' 'argv: [pwd]' 'cwd: sub' 'log: files'
  farm 1 0
  check "cwd: relative to the job file" test "$(cat logs/0.out)" = "$work/sub"
  # n_workers from a Slurm allocation's CPUs per task: the most tasks seen running at once
  cat >count.sh <<'EOF'
up() { flock lock sh -c 'n=$(cat running 2>/dev/null || echo 0); echo $((n + $1)) >running; [ "$1" -lt 0 ] || echo $((n + 1)) >>peaks' sh "$1"; }
up 1; sleep 0.5; up -1
EOF
  seq 1 9 >tasks.txt
  job 'tasks: tasks.txt' 'argv: [sh, count.sh]' 'log: discard'
  SLURM_CPUS_PER_TASK=3 farm 1 0
  check "SLURM_CPUS_PER_TASK=3: 3 tasks at once" test "$(sort -n peaks | tail -1)" = 3
  ;;
outputs) # declared outputs: kept when the task succeeds, removed when it fails or is killed
  printf '%s\n' 'ok' 'fail' 'hang' >tasks.txt
  job 'tasks: tasks.txt' \
    'argv: [sh, -c, "echo partial > out/$0.txt; case $0 in fail) exit 1;; hang) sleep 60;; esac", "{}"]' \
    'outputs: ["out/{}.txt"]' 'timeout: 1' 'grace: 0' 'log: discard'
  mkdir -p out
  farm 1 3
  check "a done task's output kept" test -s out/ok.txt
  check "a failed task's output removed" test ! -e out/fail.txt
  check "a timed-out task's output removed" test ! -e out/hang.txt
  ;;
rank_killed) # a rank killed with SIGKILL: its tasks and their descendants die with it, no orphan left
  seq 0 3 >tasks.txt
  job 'tasks: tasks.txt' \
    'argv: [sh, -c, "echo $$ >> pids.$INBATCH_RANK; setsid sleep 60 & echo $! >> pids.$INBATCH_RANK; sleep 60 & echo $! >> pids.$INBATCH_RANK; echo $PPID > rank.$INBATCH_RANK; wait"]' \
    'n_workers: 2' 'schedule: static' 'log: discard'
  # shellcheck disable=SC2086
  "${MPIEXEC:?}" -n 2 $MPIFLAGS "$inbatch" run job.yaml --overwrite </dev/null >out.txt 2>err.txt &
  launcher=$!
  for ((t = 0; t < 100; t++)); do
    [[ -s rank.1 && -s rank.0 && "$(cat pids.0 pids.1 2>/dev/null | wc -l)" -ge 12 ]] && break
    sleep 0.1
  done
  check "all 4 tasks started" test "$(cat pids.0 pids.1 2>/dev/null | wc -l)" -ge 12
  kill -KILL "$(cat rank.1)"
  wait "$launcher"
  check "rank 1's tasks and their descendants gone" gone $(cat pids.1)
  check "rank 0's too (mpirun ended the job)" gone $(cat pids.0)
  check "no results file from a killed run" test ! -e results.tsv
  ;;
hdf5) # an HDF5 output: the results table, the error records and the outcome columns agree with the results file
  printf '%s\n' 'exit 0' 'exit 3' 'kill -KILL $$' 'true' 'sleep 0.1' >tasks.txt
  job 'tasks: tasks.txt' 'argv: [sh, -c, "{}"]' 'log: discard' 'n_workers: 1'
  sed -i 's/^  logs: logs$/  file: results.h5/' job.yaml
  farm 2 3
  check "h5dump reads it" h5dump -H results.h5 >/dev/null
  check "the HDF5 output agrees with the results file" /usr/bin/python3 - <<'PY'
import h5py, math, sys
rows = [l.rstrip("\n").split("\t") for l in open("results.tsv") if not l.startswith("#")]
with h5py.File("results.h5", "r") as f:
    table, errors = f["/inbatch_results"][:], f["/inbatch_errors"][:]
    cols = {k: f["/exec_" + k][:] for k in ("rank", "exit", "signal", "attempts", "start", "runtime")}
    assert "inbatch_job" in f.attrs and "inbatch_ended" in f.attrs, "provenance attributes missing"
states = {0: "not_run", 1: "done", 2: "failed"}
assert len(table) == len(rows) == 5, (len(table), len(rows))
msgs = {int(e["index"]): (int(e["rank"]), e["message"].decode()) for e in errors}
for i, r in enumerate(rows):
    t = table[i]
    assert t["index"] == i and states[int(t["state"])] == r[7], (i, t, r)
    assert int(cols["rank"][i]) == int(r[1]), (i, "rank")
    assert (r[4] == "-" and math.isnan(t["value"]) and cols["exit"][i] == -1) or int(r[4]) == t["value"] == cols["exit"][i], (i, "exit")
    assert (r[5] == "-" and cols["signal"][i] == -1) or (r[5] == "SIGKILL" and cols["signal"][i] == 9), (i, "signal")
    assert abs(cols["runtime"][i] - float(r[3])) < 0.001, (i, "runtime")
    assert int(cols["attempts"][i]) == int(r[6])
    if r[7] == "failed":
        assert msgs[i] == (int(r[1]), r[9]), (i, msgs.get(i), r[9])
assert sorted(msgs) == [1, 2], msgs
assert cols["runtime"][4] >= 0.1
PY
  job 'tasks: tasks.txt' 'argv: [sh, -c, "exit 0"]' 'log: discard'
  sed -i 's/^  results: results.tsv$/  file: results.h5/; /^  logs: logs$/d' job.yaml
  rm -f results.tsv
  farm 1 0
  check "an HDF5 output alone" test "$(h5dump -d /exec_exit results.h5 | grep -c '(0): 0, 0, 0, 0, 0')" = 1
  check "no results file then" test ! -e results.tsv
  ;;
resume) # a run stopped by a signal ends with 75 and resumes; every task's side effect happens exactly once
  seq 0 11 >tasks.txt
  runjob() { # the job: each task sleeps, then records itself (a task killed in its sleep records nothing)
    job 'tasks: tasks.txt' "argv: [sh, -c, \"sleep ${1:-1}; echo {} >> runs.log\"]" 'n_workers: 2' 'log: discard'
  }
  stop_after() { # stop_after N SIGNAL NP [ARGS]: a run stopped by SIGNAL (to inbatch, or to mpirun) once N more
    # tasks have recorded themselves (whatever the machine's speed: sanitizers start slowly); prints its status
    local more="$1" sig="$2" np="$3" pid status=0 t had
    shift 3
    had=$(cat runs.log 2>/dev/null | wc -l)
    if ((np == 1)); then
      "$inbatch" run job.yaml "$@" </dev/null >out.txt 2>err.txt &
    else
      # shellcheck disable=SC2086
      "${MPIEXEC:?}" -n "$np" $MPIFLAGS "$inbatch" run job.yaml "$@" </dev/null >out.txt 2>err.txt &
    fi
    pid=$!
    for ((t = 0; t < 600 && $(cat runs.log 2>/dev/null | wc -l) < had + more; t++)); do sleep 0.1; done
    kill "-$sig" "$pid"
    wait "$pid" || status=$?
    echo "$status"
  }
  once() { test "$(sort -n runs.log | uniq | wc -l)" = 12 && test "$(wc -l <runs.log)" = 12; }
  runjob
  check "SIGTERM: exit status 75" test "$(stop_after 2 TERM 1)" = 75
  check "the journal kept" test -d results.tsv.journal
  check "no results file" test ! -e results.tsv
  check "it says how far it got" has err.txt "stopped by SIGTERM"
  before=$(wc -l <runs.log)
  check "some tasks ran ($before)" test "$before" -gt 0 -a "$before" -lt 12
  "$inbatch" status job.yaml >status.txt 2>&1
  check "status: how far it got" has status.txt "12 tasks: $before done, 0 failed, $((12 - before)) left"
  check "status: stopped" has status.txt "no run holds it: stopped"
  farm 1 0
  check "resumed" has err.txt "resuming: $before of 12 tasks done"
  check "each task once over both runs" once
  check "every task in the results" test "$(awk -F'\t' '!/^#/ && $8 == "done"' results.tsv | wc -l)" = 12
  check "the journal gone" test ! -e results.tsv.journal
  "$inbatch" status job.yaml >status.txt 2>&1
  check "status: finished" has status.txt "finished: './results.tsv' is written (12 tasks)"
  rm -f runs.log results.tsv
  check "2 ranks, SIGUSR1 to mpirun: 75" test "$(stop_after 2 USR1 2)" = 75
  check "then 1 rank resumes the 2 ranks' journal" test "$(stop_after 1 INT 1)" = 75
  farm 2 0
  check "each task once over three runs" once
  rm -f runs.log results.tsv
  stop_after 1 TERM 1 >/dev/null
  farm 1 0 --restart
  check "--restart: every task again" test "$(wc -l <runs.log)" -gt 12
  rm -f runs.log results.tsv
  stop_after 1 TERM 1 >/dev/null
  job 'tasks: tasks.txt' 'argv: [sh, -c, "echo {} >> other.log"]' 'n_workers: 2' 'log: discard'
  farm 1 1
  check "another job's journal refused" has err.txt "another job"
  check "with what to do" has err.txt "--restart"
  check "nothing of it ran" test ! -e other.log
  job 'tasks: tasks.txt' 'argv: [sh, -c, "[ {} != 1 ] || exit 1; sleep 1; echo {} >> runs.log"]' 'n_workers: 2' \
    'log: discard'
  rm -f runs.log results.tsv
  check "a failed task, then a stop: 75" test "$(stop_after 1 TERM 1 --restart)" = 75
  farm 1 3
  check "the resumed run reports the earlier run's failure" has err.txt "task 1 (line 2) failed on rank 0: exit status 1"
  check "and lists it" is 1 state failed
  runjob 3
  "$inbatch" run job.yaml --restart --overwrite </dev/null >/dev/null 2>&1 &
  first=$!
  for ((t = 0; t < 600; t++)); do [[ -e results.tsv.journal/lock ]] && break; sleep 0.1; done
  farm 1 1
  check "a second run on the same journal refused" has err.txt "another run (pid $first"
  "$inbatch" status job.yaml >status.txt 2>&1
  check "status: while it runs" has status.txt "a run holds it: pid $first"
  kill -TERM "$first"; wait "$first"
  ;;
kill_rounds) # 10 rounds of SIGKILL to a random rank at a random time, each followed by a resume
  seq 0 39 >tasks.txt
  job 'tasks: tasks.txt' 'argv: [sh, -c, "sleep 0.$(( {} % 4 + 1 )); echo {} >> runs.log"]' 'n_workers: 1' \
    'log: discard'
  for ((round = 1; round <= 10; round++)); do
    # shellcheck disable=SC2086
    "${MPIEXEC:?}" -n 2 $MPIFLAGS "$inbatch" run job.yaml </dev/null >out.txt 2>err.txt &
    launcher=$!
    sleep "0.$((RANDOM % 9 + 3))"
    mapfile -t ranks < <(pgrep -P "$launcher" -x inbatch)
    victim="${ranks[RANDOM % ${#ranks[@]}]:-}"
    [[ -n "$victim" ]] && kill -KILL "$victim"
    for ((t = 0; t < 300 && $(kill -0 "$launcher" 2>/dev/null && echo 1 || echo 0); t++)); do sleep 0.1; done
    check "round $round: the job ended (no hang)" test "$(kill -0 "$launcher" 2>/dev/null && echo alive)" = ""
    kill -KILL "$launcher" 2>/dev/null
    wait "$launcher" 2>/dev/null
    # mpirun may end before the ranks it told to stop: the next run must not find one holding the journal
    gone_s=30 check "round $round: every rank ended" gone "${ranks[@]}"
    echo "       round $round: killed rank pid ${victim:-none}; $(sort -u runs.log 2>/dev/null | wc -l) of 40 tasks have run"
    [[ -e results.tsv ]] && break # the run ended before the kill
  done
  if [[ -e results.tsv ]]; then
    echo "       round $round finished the job before its kill"
  else
    farm 2 0
    check "the last run resumed" has err.txt "resuming:"
  fi
  check "every task once in the results" test "$(awk -F'\t' '!/^#/ && $8 == "done" {print $1}' results.tsv | sort -n | uniq | wc -l)" = 40
  check "every task ran" test "$(sort -u runs.log | wc -l)" = 40
  echo "       tasks redone (their rank was killed after they ran, before their outcome was journaled): $(($(wc -l <runs.log) - 40))"
  check "the journal gone" test ! -e results.tsv.journal
  ;;
retry_failed) # --retry-failed: only the failed and not-run tasks run again; the others' lines are kept
  seq 0 5 >tasks.txt
  job 'tasks: tasks.txt' 'argv: [sh, -c, "echo {} >> runs.log; [ ! -e fail.{} ]"]' 'log: discard'
  "$inbatch" run job.yaml --retry-failed </dev/null >out.txt 2>err.txt
  check "no results file yet: refused" has err.txt "no results file"
  touch fail.1 fail.4
  farm 1 3
  cp results.tsv first.tsv
  rm -f runs.log fail.1
  "$inbatch" run job.yaml --retry-failed </dev/null >out.txt 2>err.txt
  check "retry: exit status 3 (task 4 still fails)" test $? = 3
  check "retry: says what it retries" has err.txt "retrying 2 of 6 tasks"
  check "retry: only tasks 1 and 4 ran" test "$(sort -n runs.log | tr '\n' ' ')" = "1 4 "
  check "retry: task 1 done now" is 1 state done
  check "retry: task 4 still failed" is 4 state failed
  check "retry: the other lines kept as they were" test \
    "$(grep -v '^#' results.tsv | awk -F'\t' '$1 != 1 && $1 != 4' | cut -f1-8)" = \
    "$(grep -v '^#' first.tsv | awk -F'\t' '$1 != 1 && $1 != 4' | cut -f1-8)"
  rm -f runs.log fail.4
  "$inbatch" run job.yaml --retry-failed </dev/null >out.txt 2>err.txt
  check "retry again: exit status 0" test $? = 0
  check "retry again: only task 4 ran" test "$(cat runs.log)" = 4
  check "retry again: no journal left" test ! -e results.tsv.journal
  seq 0 6 >tasks.txt
  "$inbatch" run job.yaml --retry-failed </dev/null >out.txt 2>err.txt
  check "another job's results refused" has err.txt "lists 6 tasks; the job has 7"
  ;;
array) # Slurm job arrays: each array task runs its shard (a block of the tasks) into its own results file; merge
  job 'count: 10' 'shell: true' 'cmd: "echo {} >> runs.log; [ ! -e fail.{} ]"' 'log: discard'
  indexes() { awk -F'\t' '!/^#/ {printf "%s ", $1}' "$1"; }
  shard() { # shard ID MIN STEP COUNT NP STATUS: one array task's run
    SLURM_ARRAY_TASK_ID=$1 SLURM_ARRAY_TASK_MIN=$2 SLURM_ARRAY_TASK_STEP=$3 SLURM_ARRAY_TASK_COUNT=$4 farm "$5" "$6"
  }
  shard 1 1 1 4 1 0
  check "shard 0 of 4 says its tasks" has err.txt "inbatch: array shard 0 of 4: tasks 0..1"
  check "shard 0 of 4 lists tasks 0..1" test "$(indexes results.shard-0-of-4.tsv)" = "0 1 "
  check "shard 0 of 4 ran only its tasks" test "$(sort -n runs.log | tr '\n' ' ')" = "0 1 "
  check "no whole results file" test ! -e results.tsv
  shard 2 1 1 4 2 0 # two ranks for one shard
  check "shard 1 of 4 lists tasks 2..4" test "$(indexes results.shard-1-of-4.tsv)" = "2 3 4 "
  shard 3 1 1 4 1 0
  check "shard 2 of 4 lists tasks 5..6" test "$(indexes results.shard-2-of-4.tsv)" = "5 6 "
  "$inbatch" merge job.yaml </dev/null >out.txt 2>err.txt
  check "merge with shard 3 missing: exit status 1" test $? = 1
  check "merge names the missing shard" has err.txt "shard 3 of 4"
  check "no results file" test ! -e results.tsv
  shard 4 1 1 4 1 0
  check "shard 3 of 4 lists tasks 7..9" test "$(indexes results.shard-3-of-4.tsv)" = "7 8 9 "
  check "every task ran once" test "$(sort -n runs.log | tr '\n' ' ')" = "0 1 2 3 4 5 6 7 8 9 "
  check "no journal left" test "$(find . -name '*.journal' | wc -l)" = 0
  "$inbatch" merge job.yaml </dev/null >out.txt 2>err.txt
  check "merge: exit status 0" test $? = 0
  check "merge: every task once, in order" test "$(indexes results.tsv)" = "0 1 2 3 4 5 6 7 8 9 "
  check "merge: all done" test "$(awk -F'\t' '!/^#/ && $8 == "done"' results.tsv | wc -l)" = 10
  check "merge: the shards' lines unchanged" test "$(grep -hv '^#' results.shard-*-of-4.tsv | sort -n)" = \
    "$(grep -v '^#' results.tsv)"
  check "merge: an inbatch header" has results.tsv "# inbatch "
  "$inbatch" merge job.yaml </dev/null >out.txt 2>err.txt
  check "merge again: refused (the results file exists)" test $? = 1
  check "merge again: says --overwrite" has err.txt "--overwrite"
  rm results.shard-2-of-4.tsv
  "$inbatch" merge job.yaml --overwrite </dev/null >out.txt 2>err.txt
  check "merge with shard 2 removed: exit status 1" test $? = 1
  check "merge names shard 2" has err.txt "shard 2 of 4 (no './results.shard-2-of-4.tsv'"
  head -3 results.shard-1-of-4.tsv >cut.tsv && mv cut.tsv results.shard-1-of-4.tsv
  touch fail.5
  shard 3 1 1 4 1 3
  "$inbatch" merge job.yaml --overwrite </dev/null >out.txt 2>err.txt
  check "merge with a shard's line cut: exit status 1" test $? = 1
  check "merge names the incomplete shard" has err.txt "results.shard-1-of-4.tsv' lists tasks 2..2"
  shard 2 1 1 4 1 0
  "$inbatch" merge job.yaml --overwrite </dev/null >out.txt 2>err.txt
  check "merge with a failed task: exit status 3" test $? = 3
  check "merge says how many failed" has err.txt "1 of 10 tasks failed"
  check "merge: task 5 failed" is 5 state failed
  rm -f fail.5 runs.log
  SLURM_ARRAY_TASK_ID=3 SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_COUNT=4 "$inbatch" run job.yaml --retry-failed \
    </dev/null >out.txt 2>err.txt
  check "--retry-failed in a shard: exit status 0" test $? = 0
  check "--retry-failed in a shard: retries task 5 only" has err.txt "retrying 1 of 2 tasks"
  check "--retry-failed in a shard: only task 5 ran" test "$(cat runs.log)" = 5
  "$inbatch" merge job.yaml --overwrite </dev/null >out.txt 2>err.txt
  check "merge after the retry: exit status 0" test $? = 0
  # a stepped array (--array=0-4:2): ids 0, 2, 4 are shards 0, 1, 2 of 3
  rm -f results.* runs.log fail.*
  for id in 0 2 4; do shard "$id" 0 2 3 1 0; done
  check "stepped: shard 1 of 3 lists tasks 3..5" test "$(indexes results.shard-1-of-3.tsv)" = "3 4 5 "
  check "stepped: shard 2 of 3 lists tasks 6..9" test "$(indexes results.shard-2-of-3.tsv)" = "6 7 8 9 "
  "$inbatch" merge job.yaml </dev/null >out.txt 2>err.txt
  check "stepped: merge exit status 0" test $? = 0
  check "stepped: every task once" test "$(indexes results.tsv)" = "0 1 2 3 4 5 6 7 8 9 "
  check "stepped: every task ran once" test "$(sort -n runs.log | tr '\n' ' ')" = "0 1 2 3 4 5 6 7 8 9 "
  touch results.shard-0-of-4.tsv
  "$inbatch" merge job.yaml --overwrite </dev/null >out.txt 2>err.txt
  check "shards of two arrays: refused" has err.txt "shards of arrays of"
  rm -f results.* runs.log
  # the environment checked
  shard 5 1 1 4 1 1
  check "an id out of the array: refused" has err.txt "SLURM_ARRAY_TASK_ID=5 is not one of the array's"
  shard 2 1 2 4 1 1
  check "an id off the step: refused" has err.txt "SLURM_ARRAY_TASK_STEP=2"
  SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_MIN=1 farm 1 1
  check "no SLURM_ARRAY_TASK_COUNT: refused" has err.txt "SLURM_ARRAY_TASK_COUNT is not set"
  SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_MIN=x SLURM_ARRAY_TASK_COUNT=4 farm 1 1
  check "a garbled SLURM_ARRAY_TASK_MIN: refused" has err.txt "SLURM_ARRAY_TASK_MIN is 'x'"
  check "nothing ran" test ! -e runs.log
  INBATCH_NO_ARRAY=1 shard 2 1 1 4 1 0
  check "INBATCH_NO_ARRAY=1: every task in results.tsv" test "$(indexes results.tsv)" = "0 1 2 3 4 5 6 7 8 9 "
  check "INBATCH_NO_ARRAY=1: no shard file" test "$(find . -name '*.shard-*' | wc -l)" = 0
  printf 'input:\n  count: 4\noutput:\n  file: out.h5\npipeline:\n  - action: exec\n    argv: ["true"]\n' >job.yaml
  shard 1 1 1 4 1 1
  check "an HDF5 output in an array: refused" has err.txt "not built yet for job arrays: use output.results"
  ;;
big) # a task list of 100,000 lines
  seq 1 100000 | sed 's/^/task /' >tasks.txt
  job 'tasks: tasks.txt' 'argv: ["true", "{2}"]' 'n_workers: 2' 'log: discard'
  farm 1 0
  check "100,000 result lines" test "$(rows)" = 100000
  check "all done" test "$(awk -F'\t' '!/^#/ && $8 == "done"' results.tsv | wc -l)" = 100000
  check "the last task's command" is 99999 command "true 100000"
  ;;
*)
  echo "farm.sh: unknown case '$case_name'" >&2
  exit 2
  ;;
esac
echo "farm.sh $case_name: $checks checks, $failures failed"
((failures == 0))
