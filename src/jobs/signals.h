/* Internal: the signals that stop a run early but resumably (SIGTERM, SIGINT, SIGUSR1: a scheduler's warning
 * before the time limit, a preemption, mpirun's or srun's forwarding, Ctrl-C). The first one asks the run to stop
 * taking work; the tasks in flight get it too (their process groups, spawn.h), so programs can stop as they
 * would under the scheduler; the run then keeps what is done and ends with exit status 75. A second signal ends
 * the process at once, with 75 as well: what is journaled is durable whatever happens after. */
#ifndef INB_JOBS_SIGNALS_H
#define INB_JOBS_SIGNALS_H

#include <stdbool.h>

/* Installs the handlers (process-wide; call once, from the main thread, before the run). Idempotent. quiet: say
 * nothing on stderr (ranks other than 0). */
void inb__signals_install(bool quiet);

/* For a run that cannot stop early (an HDF5 pipeline of several passes, a reduction or a compressed output): SIGUSR1, a scheduler's warning before the time
 * limit, is noted on stderr and otherwise ignored, so that the job goes on until the limit instead of dying at
 * the warning. SIGTERM and SIGINT keep their default action. Instead of inb__signals_install; idempotent. */
void inb__signals_ignore_warning(bool quiet);

/* Whether sig is one of the stopping signals (a task that one ended may have been stopped with its run). */
bool inb__signals_stopping(int sig);

/* Waits up to `seconds` for a stopping signal to reach this process; whether one has. A task that a stopping
 * signal ended may die before the rank's own handler runs (a scheduler signals every process of a step). */
bool inb__signals_wait(double seconds);

/* The first stopping signal received (SIGTERM, SIGINT, SIGUSR1), or 0. Async-signal-safe; any thread. */
int inb__signals_received(void);

/* For tests and for a run that starts over in the same process: forgets a received signal. */
void inb__signals_reset(void);

#endif
