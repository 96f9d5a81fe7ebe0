/* Status codes and the thread-local detail message behind inb_errmsg(). */
#include "core/status.h"

#include <inbatch/run.h> /* inb_set_error is declared there: its visibility comes from it */

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* One buffer per thread: messages are short sentences, and a fixed buffer cannot fail to allocate. */
static _Thread_local char errbuf[INB__ERRMSG_MAX];

const char *inb_strerror(int code) {
  switch (code) {
  case INB_OK: return "success";
  case INB_EINVAL: return "invalid argument";
  case INB_ENOMEM: return "out of memory";
  case INB_EITEM: return "one or more tasks failed";
  case INB_EIO: return "input/output error";
  case INB_EMPI: return "MPI error";
  case INB_ECORRUPT: return "corrupt data";
  case INB_ECANCELED: return "canceled";
  case INB_ENOTFOUND: return "not found";
  default: return "unknown error";
  }
}

const char *inb_errmsg(void) { return errbuf; }

/* Formatted aside first: an argument may be inb_errmsg() itself, i.e. errbuf, which vsnprintf must not write
 * while it reads it. */
static void set_message(const char *fmt, va_list ap) {
  char tmp[INB__ERRMSG_MAX];
  vsnprintf(tmp, sizeof tmp, fmt, ap);
  memcpy(errbuf, tmp, sizeof tmp);
}

int inb__err(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_message(fmt, ap);
  va_end(ap);
  return code;
}

/* inb_set_error's message, kept apart from errbuf: the library's own messages may overwrite errbuf between the
 * callback's return and the moment the engine reads it. */
static _Thread_local char usermsg[INB__ERRMSG_MAX];
static _Thread_local bool has_usermsg;

int inb_set_error(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (fmt)
    vsnprintf(usermsg, sizeof usermsg, fmt, ap);
  else
    usermsg[0] = '\0';
  va_end(ap);
  has_usermsg = true;
  return inb__err_set(code, usermsg);
}

void inb__user_error_reset(void) { has_usermsg = false; }

int inb__user_failure(int code, const char *what_fmt, ...) {
  char what[INB__ERRMSG_MAX];
  va_list ap;
  va_start(ap, what_fmt);
  vsnprintf(what, sizeof what, what_fmt, ap);
  va_end(ap);
  if (has_usermsg) return inb__err(code, "%s: %s", what, usermsg);
  return inb__err(code, "%s with code %d (%s)", what, code, inb_strerror(code));
}

int inb__err_set(int code, const char *msg) {
  return inb__err(code, "%s", msg ? msg : ""); /* through the copy aside: msg may lie inside errbuf */
}
