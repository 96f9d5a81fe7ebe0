/* Internal: the signals that stop a run early but resumably (SIGTERM, SIGINT, SIGUSR1: a scheduler's warning
 * before the time limit, a preemption, mpirun's or srun's forwarding, Ctrl-C). The first one asks the run to stop
 * taking work; the tasks in flight get it too (their process groups, spawn.h), so programs can stop as they
 * would under the scheduler; the run then keeps what is done and ends with exit status 75. A second signal ends
 * the process at once, with 75 as well: what is journaled is durable whatever happens after. */
#ifndef INB_JOBS_SIGNALS_H
#define INB_JOBS_SIGNALS_H

/* Installs the handlers (process-wide; call once, from the main thread, before the run). Idempotent. */
void inb__signals_install(void);

/* The first stopping signal received (SIGTERM, SIGINT, SIGUSR1), or 0. Async-signal-safe; any thread. */
int inb__signals_received(void);

/* For tests and for a run that starts over in the same process: forgets a received signal. */
void inb__signals_reset(void);

#endif
