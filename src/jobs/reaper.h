/* Internal: the reaper, one small process per rank that kills the rank's tasks when the rank dies, however it
 * dies (SIGKILL included), for the task runner (spawn.h).
 *
 * Why a process: a dead rank can do nothing, and PR_SET_PDEATHSIG follows the thread that forked (worker
 * threads come and go) and does not reach grandchildren. So the rank starts one helper, which waits on the read
 * end of a pipe whose only write end the rank holds (close-on-exec): when the rank dies the kernel closes it,
 * the helper wakes up once, kills what the rank told it about and exits. It costs nothing per task: the rank
 * lists its tasks' process groups in a memory table it shares with the helper (a memfd mapped by both), with
 * plain stores, no system call, no wake-up.
 *
 * What the helper kills, with SIGKILL: every process group listed in the table, then every process whose
 * environment carries this rank's owner entry (INB__REAPER_OWNER=<pid>-<random>, which the runner gives every
 * task and which its descendants inherit), until none is left. The second net catches a task started in the
 * instant between posix_spawn's return and its listing, and descendants that left their task's group (setsid,
 * daemons), unless they cleared their environment.
 *
 * The helper is this same program, /proc/self/exe, run with a marker argument that a constructor of this file
 * recognises before main runs: no separate binary to install or find. It runs in a session of its own (signals
 * sent to the rank's process group or terminal do not reach it) and ignores the catchable termination signals:
 * only the rank's end (or SIGKILL) ends it. A program that does not link this file cannot start it
 * (inb__reaper_start says so). */
#ifndef INB_JOBS_REAPER_H
#define INB_JOBS_REAPER_H

#include <sys/types.h>

/* The environment variable that marks a rank's tasks and their descendants. */
#define INB__REAPER_OWNER "INBATCH_SPAWN_OWNER"

enum { INB__REAPER_SLOTS = 16384 }; /* tasks of one process at once */

/* Starts this process's reaper and waits (up to 10 s) until it is ready. Not thread-safe: the runner calls it
 * under its own lock. Returns 0, INB_EIO (the helper cannot be started, or exited at once: the message says
 * why), INB_ENOMEM. */
int inb__reaper_start(void);

/* "INBATCH_SPAWN_OWNER=<pid>-<16 hex digits>": the entry every task's environment gets. Owned by this module,
 * valid from inb__reaper_start until inb__reaper_stop. */
const char *inb__reaper_owner_entry(void);

/* The helper's pid (0 when not started): for tests. */
pid_t inb__reaper_pid(void);

/* A table slot for a task about to start. Returns the slot (>= 0), or INB_EIO when INB__REAPER_SLOTS tasks
 * of this process are already listed. Thread-safe. */
int inb__reaper_claim(void);

/* Lists pgid in the claimed slot (after posix_spawn returned it). Thread-safe. */
void inb__reaper_set(int slot, pid_t pgid);

/* Forgets the slot and frees it: call before the task's leader is reaped, so that the helper never kills a
 * process group whose id may have been reused. NULL-safe in spirit: a negative slot is ignored. Thread-safe. */
void inb__reaper_release(int slot);

/* Sends SIGKILL to every listed process group now (the runner's shutdown). Thread-safe. */
void inb__reaper_kill_all(void);

/* Sends sig to every listed process group now, without a lock: async-signal-safe (the stopping signals' handler
 * forwards them to the tasks in flight). */
void inb__reaper_signal_all(int sig);

/* Closes the pipe (the helper kills what is left, as at the rank's death) and waits for the helper to exit.
 * Then inb__reaper_start may be called again. No task may be listed or claimed during the call. */
void inb__reaper_stop(void);

#endif
