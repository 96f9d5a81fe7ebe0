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

/* Forgets inb_set_error's message in this thread: call before init or post runs. */
void inb__user_error_reset(void);

/* The failure of a user callback that returned `code`: inb_errmsg() becomes "<what>: <its inb_set_error
 * message>", or "<what> with code N (<strerror>)" when it set none. Returns code. */
int inb__user_failure(int code, const char *what_fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
