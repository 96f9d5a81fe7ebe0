/* Internal: the process runner behind the exec action (command farming: one program run per task, as GNU
 * parallel and xargs do, inside an MPI job). It runs ONE task's program to its end and says how it ended;
 * what the program is, and what is done with the outcome, is the caller's.
 *
 * How a task runs:
 * - argv is run as is, never through a shell (a job that asks for a shell gets `/bin/sh -c ...` from the
 *   caller). argv[0] with a '/' is a path (relative to cwd when cwd is given); without one it is searched in
 *   PATH: env_add's PATH= when it sets one, else the command's.
 * - It starts with posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK) then exec: the large MPI process is never
 *   copied) as the leader of a process group of its own (pgid = pid), stdin /dev/null, descriptors above 2
 *   closed, an empty signal mask and the default action for every signal (a rank that ignores SIGPIPE does not
 *   pass that on), in cwd.
 * - Its environment: the command's, with env_add's entries added or replacing those of the same name, and
 *   INBATCH_SPAWN_OWNER=<pid>-<random> (reserved: it marks the rank's tasks and their descendants, see
 *   reaper.h).
 * - A task is over when its program is: what the program left running in its process group is killed
 *   (SIGKILL) then, as a scheduler does at a step's end. A timeout sends SIGTERM to the whole group, and
 *   SIGKILL grace_s later if the program has not ended.
 * - When the rank ends, however it ends (SIGKILL included), a small helper process of the rank kills the
 *   process groups of its running tasks and every process that carries the rank's owner entry (reaper.h).
 * - The caller's thread blocks in inb__spawn_run. No signal handler is installed; only the task's own pid is
 *   waited for (waitid/waitpid on that pid, never -1), so MPI's and other libraries' children are untouched.
 *
 * Cost per task: the posix_spawn and exec, and when a timeout is set or output is TAGGED, a pidfd and a poll
 * loop (Linux >= 5.3; without pidfds, a poll whose timeout grows from 0.1 to 20 ms). */
#ifndef INB_JOBS_SPAWN_H
#define INB_JOBS_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum {
  INB__SPAWN_LINE_MAX = 64 * 1024, /* TAGGED: a longer line is cut into pieces of this many bytes */
  INB__SPAWN_MSG = 256             /* inb__spawn_result.msg */
};

/* Where the task's stdout and stderr go. */
typedef enum {
  INB__OUT_DISCARD, /* /dev/null */
  INB__OUT_FILES,   /* stdout_path and stderr_path */
  INB__OUT_TAGGED   /* the command's own stdout and stderr, every line tagged */
} inb__out_mode;

/* One task. Every pointer is the caller's and needs to live only during inb__spawn_run. */
typedef struct {
  char *const *argv;          /* NULL-terminated, argv[0] not empty */
  const char *cwd;            /* NULL: the command's working directory */
  char *const *env_add;       /* "NAME=VALUE" entries, NULL-terminated; NULL: none. A later entry of the same
                                 NAME wins */
  double timeout_s;           /* 0: none. Else SIGTERM to the task's process group after that long ... */
  double grace_s;             /* ... and SIGKILL this much later (0: at once) */
  inb__out_mode out;
  const char *stdout_path;    /* FILES: created or truncated (0644); the directory must exist. NULL: that stream
                                 is discarded. The same path for both: one file, both streams */
  const char *stderr_path;
  const char *tag;            /* TAGGED: every line of the task's stdout and stderr goes to the command's fd 1
                                 and 2 as "TAG<TAB>line\n": whole lines, in one write each (several short lines
                                 share one when they fit in PIPE_BUF bytes), never mixed with lines of another
                                 task of this process; a last line without '\n' gets one; a line of
                                 INB__SPAWN_LINE_MAX bytes or more is cut into pieces, each tagged. No '\n' in
                                 the tag */
  const char *const *outputs; /* files the task writes: removed unless it exits with status 0 (failed, killed,
                                 timed out, not started), so that no half-written file looks complete */
  size_t noutputs;
} inb__spawn_spec;

/* How a task ended. Success is ok: started, exit status 0, in time. */
typedef struct {
  bool ok;
  bool started;        /* false: the program could not be started; error is the errno */
  int error;
  pid_t pid;           /* the task's pid and process group (0 when not started) */
  int exit_status;     /* its exit status; -1 when a signal ended it or it did not start */
  int signal;          /* the signal that ended it; 0 when it exited */
  bool core_dumped;
  bool timed_out;      /* it was still running at timeout_s (SIGTERM sent) */
  double start_s;      /* CLOCK_REALTIME seconds when it was started */
  double runtime_s;    /* CLOCK_MONOTONIC seconds from the start to its end */
  char msg[INB__SPAWN_MSG]; /* "" when ok; else the reason, for the item's failure message:
                          "exit status 3", "killed by signal 9 (SIGKILL)",
                          "killed by signal 11 (SIGSEGV), core dumped",
                          "timed out after 5 s (SIGTERM)", "timed out after 5 s (SIGTERM, then SIGKILL after 2 s)",
                          "cannot run 'nosuch': No such file or directory",
                          "cannot run 'prog': cannot enter 'dir': No such file or directory",
                          "cannot create 'out/3.log' for the task's stdout: No such file or directory" */
} inb__spawn_result;

/* Starts this process's task reaper (reaper.h). Call once, early (after MPI_Init, before threads spawn tasks):
 * inb__spawn_run starts it when needed, but an error is best reported before any task runs. Idempotent;
 * thread-safe; again after inb__spawn_shutdown. Returns 0, INB_EIO (the reaper cannot start: the message says
 * why), INB_ENOMEM. */
int inb__spawn_init(void);

/* Runs one task to its end and fills *r. Blocking; thread-safe (any number of threads at once).
 * Returns 0 when the task ran to an outcome, success or not (read r), including a program that could not be
 * started or an output file that could not be created; or, with inb_errmsg() set and r describing what is
 * known: INB_EINVAL (s or r NULL, no argv[0], a negative or NaN time, FILES/TAGGED without what they need, an
 * env_add entry without '=', a tag with '\n'), INB_ENOMEM, INB_EIO (a pipe or poll failed, the task's
 * output could not be written to the command's stdout/stderr: the task still ran to its end, r says how; the
 * reaper cannot start), INB_ECANCELED (inb__spawn_shutdown was called). A task started is always waited for
 * before the call returns, whatever the return code. */
int inb__spawn_run(const inb__spawn_spec *s, inb__spawn_result *r);

/* At the end: kills the tasks still running (SIGKILL to their groups), waits until every inb__spawn_run has
 * returned, then stops the reaper, which also kills what escaped the tasks' groups. Later inb__spawn_run calls
 * return INB_ECANCELED, until inb__spawn_init. Thread-safe; idempotent. */
void inb__spawn_shutdown(void);

/* ---- the tests' side (the command never calls these) ----------------------------------------------------- */

/* Waits as without pidfds (an older kernel) when on. */
void inb__spawn_test_no_pidfd(bool on);

/* The reaper's pid; 0 when not started. */
pid_t inb__spawn_reaper_pid(void);

#endif
