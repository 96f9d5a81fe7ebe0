#!/usr/bin/env bash
# A resumable output whose run is SIGKILLed goes on from its partial (include/inbatch/h5.h, "Resumable outputs"):
# resume_kill (its program) runs slowly on 2 ranks under mpiexec; once some batches are finished, one rank is
# SIGKILLed (Open MPI then ends the other); the partial is reopened, the unfinished items run, the output committed.
# The committed file must equal an uninterrupted run's, and no item that was finished before the kill may run again
# (resume_kill check says so from the tasks' logs).
# Two rounds: rank 1 killed, resumed on 2 ranks (the file flushed every INB_H5_FLUSH_MS, the default); rank 0 killed,
# resumed on 1 rank (INB_H5_FLUSH_MS=0: a flush at every batch's end, which the kill may cut).
# Usage: resume_kill.sh PROGRAM   (environment: MPIEXEC, MPIFLAGS: the flags of mpiexec, as a list)
set -uo pipefail
# shellcheck source=../common/check.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common/check.sh"
prog="${1:?usage: resume_kill.sh PROGRAM}"
mpiexec="${MPIEXEC:-mpiexec}"
read -r -a flags <<<"${MPIFLAGS:-}"
failures=0 checks=0
top=$(mktemp -d "${TMPDIR:-/tmp}/inb-resume-kill-XXXXXX") || exit 1
trap 'rm -rf "$top"' EXIT

# logged DIR: the tasks the first run has started (its logs' lines)
logged() { cat "$1"/ran1.* 2>/dev/null | wc -l; }

# round NAME VICTIM RESUME_RANKS FLUSH_MS
round() {
  local name=$1 victim=$2 ranks=$3 flush=$4 dir="$top/$1" t launcher pid status=
  mkdir -p "$dir"
  INB_H5_FLUSH_MS=$flush "$mpiexec" -n 2 "${flags[@]}" "$prog" first "$dir" >"$dir/first.out" 2>&1 &
  launcher=$!
  # a task of batch 5 has started: batches 0..3 are finished (a batch starts once the previous one is written)
  for ((t = 0; t < 600; t++)); do
    (($(logged "$dir") > 4 * 6)) && break
    kill -0 "$launcher" 2>/dev/null || break
    sleep 0.1
  done
  check "$name: some batches finished before the kill ($(logged "$dir") tasks started)" test "$(logged "$dir")" -gt 24
  pid=$(cat "$dir/pid.$victim" 2>/dev/null)
  check "$name: rank $victim is running (pid ${pid:-none})" kill -0 "${pid:-0}"
  [ -n "$pid" ] && kill -KILL "$pid"
  wait_ended "$launcher"
  for f in "$dir"/pid.*; do # a rank mpiexec did not end is ended here, by its own pid
    pid=$(cat "$f")
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  done
  check "$name: the killed job ended (status $status)" test "$status" != hung -a "$status" != 0
  check "$name: nothing was committed" test ! -e "$dir/out.h5"
  check "$name: the partial is kept" test -e "$dir/.out.h5.inbatch-partial"
  INB_H5_FLUSH_MS=$flush "$mpiexec" -n "$ranks" "${flags[@]}" "$prog" resume "$dir" >"$dir/resume.out" 2>&1
  check "$name: the resumed run on $ranks rank(s) commits" test $? = 0
  "$mpiexec" -n 1 "${flags[@]}" "$prog" whole "$dir" >"$dir/whole.out" 2>&1
  check "$name: the uninterrupted run" test $? = 0
  "$prog" check "$dir" >"$dir/check.out" 2>&1
  check "$name: the output equals the uninterrupted run's and no finished item ran again" test $? = 0
  cat "$dir/check.out"
  if ((failures)); then
    for f in first resume whole; do echo "--- $name: $f"; tail -20 "$dir/$f.out"; done
  fi
}

round kill_rank1 1 2 1000
round kill_rank0 0 1 0
echo "resume_kill.sh: $checks checks, $failures failed"
((failures == 0))
