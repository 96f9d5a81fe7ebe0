/* Internal: the process-wide pool of pthreads behind the threads target. Created lazily, grown to the
 * largest number of helpers ever asked for, and reused by every call (never threads per call). */
#ifndef INB_LOCAL_POOL_H
#define INB_LOCAL_POOL_H

/* One participant's share of a job: participant 0 is the calling thread, 1.. are pool threads. */
typedef void (*inb__pool_work)(void *ctx, int participant);

/* Runs work(ctx, 0) in the calling thread and work(ctx, k) on up to `nhelpers` pool threads (k = 1..), and
 * returns when every participant that started has returned (everything they did happens-before the return).
 * Helpers that are busy with other callers' jobs may not join: work must not rely on them (the caller's
 * share alone must be able to finish the job). Thread-safe; several callers may run jobs at once. */
void inb__pool_run(int nhelpers, inb__pool_work work, void *ctx);

#endif
