/* Status codes and the thread-local detail message behind inb_errmsg(). */
#include "core/status.h"

#include <stdarg.h>
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

int inb__err(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errbuf, sizeof errbuf, fmt, ap);
  va_end(ap);
  return code;
}

int inb__err_set(int code, const char *msg) {
  snprintf(errbuf, sizeof errbuf, "%s", msg ? msg : "");
  return code;
}
