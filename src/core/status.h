/* Internal: setting the thread-local error message. */
#ifndef INB_CORE_STATUS_H
#define INB_CORE_STATUS_H

#include <inbatch/core.h>

/* The size of inb_errmsg()'s buffer: longer messages are cut to it. */
#define INB__ERRMSG_MAX 1024

/* Formats the calling thread's inb_errmsg() and returns code, so callers can `return inb__err(...)`. */
int inb__err(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sets inb_errmsg() to msg verbatim (truncated to the buffer); returns code. */
int inb__err_set(int code, const char *msg);

#endif
