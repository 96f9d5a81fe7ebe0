/* Clocks the benchmarks share: seconds on any clock, and how much CPU the whole machine used (to tell whether
 * something else ran during a timed run). */
#ifndef INB_BENCH_BENCHCLOCK_H
#define INB_BENCH_BENCHCLOCK_H

#include <time.h>

/* Seconds on clock `id` (CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, ...). */
double clock_s(clockid_t id);

/* Seconds on CLOCK_MONOTONIC. */
double now_s(void);

/* CPU seconds every process on this machine has used so far (/proc/stat: user, nice, system, irq, softirq and
 * steal time); -1 when unreadable. Minus our own processes' CPU time, it tells how busy the machine was. */
double machine_cpu_s(void);

#endif
