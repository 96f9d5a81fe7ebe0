/* Internal: the monotonic clock every layer reads. */
#ifndef INB_CORE_CLOCK_H
#define INB_CORE_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t inb__now_ns(void);

#endif
