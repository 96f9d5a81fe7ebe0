#!/usr/bin/env bash
# A real one-node Slurm cluster for the tests (label `slurm`): munge, slurmctld and slurmd started by hand, as
# root, with their configuration, state, spool, logs and pid files under DIR (the recipe of the design notes'
# ENVIRONMENT.md, "Slurm on one machine"). The machine's /etc/slurm is not used: clients find the cluster through
# SLURM_CONF=DIR/slurm.conf.
#
#   tests/slurm/cluster.sh start DIR     # then: export SLURM_CONF=DIR/slurm.conf
#   tests/slurm/cluster.sh status DIR    # exit 0 when it answers and its node is idle or busy, 3 otherwise
#   tests/slurm/cluster.sh stop DIR
#
# start waits (at most INB_SLURM_WAIT seconds, default 30) until `sinfo` shows the node idle, and on failure
# prints the daemons' log tails. It is idempotent: a cluster already running from DIR is kept; what a dead one
# left in DIR is removed first. The daemons' PIDs are kept in DIR/pids and stop ends them by PID, never by name
# (the machine may run other slurmds), after cancelling the cluster's jobs. munged is started (and stopped) only
# when no munged answers on the default socket already. Changed outside DIR, only when missing: a munge key,
# /run/munge, and a line `127.0.0.1 HOST` in /etc/hosts when `hostname -s` does not resolve.
# Ports: INB_SLURMCTLD_PORT (default 6817) and INB_SLURMD_PORT (6818), for a machine whose own Slurm holds them.
set -euo pipefail

usage() { echo "usage: tests/slurm/cluster.sh start|stop|status DIR" >&2; exit 2; }
(($# == 2)) || usage
cmd="$1"
if [[ "$cmd" != start && ! -d "$2" ]]; then
  [[ "$cmd" != status ]] || { echo "not running (no directory $2)"; exit 3; }
  [[ "$cmd" != stop ]] || { echo "cluster.sh: nothing to stop (no directory $2)" >&2; exit 0; }
fi
[[ "$cmd" != start ]] || mkdir -p -- "$2"
dir="$(cd -- "$2" 2>/dev/null && pwd -P)" || { echo "cluster.sh: cannot use directory '$2'" >&2; exit 1; }
conf="$dir/slurm.conf" pids="$dir/pids"
export SLURM_CONF="$conf"
wait_s="${INB_SLURM_WAIT:-30}"

say() { echo "cluster.sh: $*" >&2; }

# alive NAME PID: PID runs the program NAME (so a PID reused by another program is never signalled).
alive() {
  local comm
  comm="$(cat "/proc/$2/comm" 2>/dev/null)" || return 1
  [[ "$comm" == "$1" ]] && [[ "$(awk '{print $3}' "/proc/$2/stat" 2>/dev/null)" != Z ]]
}

# recorded NAME: the PID recorded in DIR/pids for NAME, or nothing.
recorded() { if [[ -f "$pids" ]]; then awk -v n="$1" '$1 == n { print $2 }' "$pids"; fi; }

running() { # every daemon recorded in DIR/pids is alive (and there is a record)
  local name pid n=0
  [[ -f "$pids" ]] || return 1
  while read -r name pid; do
    alive "$name" "$pid" || return 1
    n=$((n + 1))
  done <"$pids"
  ((n >= 2))
}

node_state() { timeout 10 sinfo -h -o %T 2>/dev/null | head -n1 || true; }

# ours: the controller that answers on the configured port is the one of DIR (not another cluster's, on a
# machine that runs its own Slurm on the same ports).
ours() { [[ "$(timeout 10 scontrol show config 2>/dev/null | awk '$1 == "StateSaveLocation" {print $3}')" == "$dir/state" ]]; }

log_tails() {
  local f
  for f in "$dir"/log/*.log "$dir"/munge/munged.log "$dir"/log/*.out; do
    [[ -s "$f" ]] || continue
    [[ "$f" != *.out || ! -s "${f%.out}.log" ]] || continue # the daemon's log says the same
    echo "--- last lines of $f" >&2
    tail -n 15 "$f" >&2
  done
}

# stop_pid NAME PID: SIGTERM, then SIGKILL after 10 s; returns when the process is gone.
stop_pid() {
  local name="$1" pid="$2" t
  alive "$name" "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((t = 0; t < 100; t++)); do
    alive "$name" "$pid" || return 0
    sleep 0.1
  done
  say "$name (pid $pid) still runs 10 s after SIGTERM: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((t = 0; t < 50; t++)); do
    alive "$name" "$pid" || return 0
    sleep 0.1
  done
  say "$name (pid $pid) does not end"
  return 1
}

do_stop() {
  local pid t
  # The cluster's own jobs first (only while its controller answers): no job step outlives slurmd.
  if [[ -n "$(recorded slurmctld)" ]] && alive slurmctld "$(recorded slurmctld)"; then
    mapfile -t jobs < <(timeout 10 squeue -h -o %A 2>/dev/null || true)
    if ((${#jobs[@]})); then
      timeout 10 scancel "${jobs[@]}" 2>/dev/null || true
      for ((t = 0; t < 100; t++)); do
        [[ -z "$(timeout 10 squeue -h -t R,CG -o %A 2>/dev/null)" ]] && break
        sleep 0.1
      done
    fi
  fi
  pid="$(recorded slurmd)"
  [[ -z "$pid" ]] || stop_pid slurmd "$pid"
  pid="$(recorded slurmctld)"
  [[ -z "$pid" ]] || stop_pid slurmctld "$pid"
  pid="$(recorded munged)"
  [[ -z "$pid" ]] || stop_pid munged "$pid"
  rm -f -- "$pids"
}

clean() { # what a previous cluster left in DIR (only the names this script makes)
  rm -rf -- "$dir/state" "$dir/spool" "$dir/log" "$dir/run" "$dir/munge" "$conf" "$pids"
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  local t pid
  if munge_works; then
    return 0 # a munged answers already (the machine's own, or ours): use it, never stop it
  fi
  if [[ ! -f /etc/munge/munge.key ]]; then
    say "creating the munge key /etc/munge/munge.key"
    install -d -o munge -g munge -m 700 /etc/munge
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
  fi
  install -d -o munge -g munge -m 755 /run/munge
  chmod a+x "$dir" # munged runs as user munge: it must reach DIR/munge (mktemp -d makes DIR 700)
  install -d -o munge -g munge -m 700 "$dir/munge"
  runuser -u munge -- /usr/sbin/munged --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    </dev/null >"$dir/log/munged.out" 2>&1 || {
    say "munged did not start:"
    cat "$dir/log/munged.out" "$dir/munge/munged.log" >&2 2>/dev/null || true
    return 1
  }
  for ((t = 0; t < 100; t++)); do
    pid="$(cat "$dir/munge/munged.pid" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && munge_works; then
      echo "munged $pid" >>"$pids"
      return 0
    fi
    sleep 0.1
  done
  say "munged started but 'munge -n | unmunge' still fails after 10 s:"
  tail -n 15 "$dir/munge/munged.log" >&2 2>/dev/null || true
  return 1
}

write_conf() {
  local host="$1" node
  node="$(slurmd -C | head -n1)"
  [[ "$node" == NodeName=* ]] || { say "'slurmd -C' printed no NodeName line: $node"; return 1; }
  cat >"$conf" <<EOF
# Written by tests/slurm/cluster.sh: a one-node cluster for inbatch's tests (everything under $dir).
ClusterName=inbatch-test
SlurmctldHost=$host
SlurmctldPort=${INB_SLURMCTLD_PORT:-6817}
SlurmdPort=${INB_SLURMD_PORT:-6818}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
JobRequeue=1
MinJobAge=300
MailProg=/bin/true
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=1,bf_interval=1
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
$node
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

do_start() {
  local host t state
  if [[ "$(id -u)" != 0 ]]; then
    say "needs root (it starts slurmctld, slurmd and munged as root)"
    return 1
  fi
  for t in slurmctld slurmd munged munge unmunge mungekey sinfo squeue scontrol sbatch srun; do
    command -v "$t" >/dev/null || PATH="$PATH:/usr/sbin:/sbin" command -v "$t" >/dev/null ||
      { say "'$t' not found: install slurmctld slurmd slurm-client munge (apt-get install -y ...)"; return 1; }
  done
  export PATH="$PATH:/usr/sbin:/sbin"
  if running && ours; then
    if [[ "$(node_state)" == idle* || "$(node_state)" == mix* || "$(node_state)" == alloc* ]]; then
      say "already running from $dir"
      return 0
    fi
  fi
  do_stop # a cluster from this DIR that died, or half runs: what is left of it ends, by PID
  clean
  mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/run"
  : >"$pids"

  host="$(hostname -s)"
  if ! getent hosts "$host" >/dev/null; then
    say "adding '127.0.0.1 $host' to /etc/hosts ('$host' does not resolve)"
    printf '127.0.0.1 %s\n' "$host" >>/etc/hosts
  fi
  start_munge
  write_conf "$host"

  # In the foreground of their own sessions (-D), so $! is the daemon itself and a Ctrl-C of the caller
  # does not reach them; -i: the controller starts from no saved state.
  setsid slurmctld -D -i -f "$conf" </dev/null >"$dir/log/slurmctld.out" 2>&1 &
  echo "slurmctld $!" >>"$pids"
  setsid slurmd -D -f "$conf" </dev/null >"$dir/log/slurmd.out" 2>&1 &
  echo "slurmd $!" >>"$pids"

  for ((t = 0; t < wait_s * 10; t++)); do
    state="$(node_state)"
    if [[ "$state" == idle ]]; then
      ours && break
      state="idle, but from the controller of another cluster on the same port"
    fi
    if ! running; then
      say "a daemon ended during start-up ($(tr '\n' ' ' <"$pids"))"
      break
    fi
    sleep 0.1
  done
  if [[ "$state" != idle ]] || ! running; then
    say "the cluster did not come up within ${wait_s} s (sinfo says '${state:-nothing}'); the daemons' logs:"
    log_tails
    do_stop
    return 1
  fi
  say "one-node cluster up: node $host idle, $(grep -o 'CPUs=[0-9]*' "$conf"), \
pids $(awk '{printf "%s=%s ", $1, $2}' "$pids")(export SLURM_CONF=$conf)"
}

do_status() {
  local state
  if ! running || ! ours; then
    echo "not running (from $dir)"
    return 3
  fi
  state="$(node_state)"
  echo "running from $dir: $(awk '{printf "%s=%s ", $1, $2}' "$pids")node ${state:-not answering}"
  [[ -n "$state" ]] || return 3
}

case "$cmd" in
  start) do_start ;;
  stop) export PATH="$PATH:/usr/sbin:/sbin"; do_stop; say "stopped (from $dir)" ;;
  status) do_status ;;
  *) usage ;;
esac
