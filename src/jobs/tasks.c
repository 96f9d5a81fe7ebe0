/* Task lists: a task file read into one buffer with a record per task, or a bare count (see tasks.h). */
#include "jobs/tasks.h"

#include "core/alloc.h"
#include "core/status.h"
#include "jobs/utf8.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Where task i is: buf[off .. off+len) and a NUL at buf[off+len]. */
typedef struct {
  size_t off, len;
  int64_t line;
} task_rec;

struct inb__tasks {
  int64_t n;
  char *path;       /* NULL for a count */
  char *buf;        /* the file, each task's line ending overwritten by its NUL; NULL for a count */
  task_rec *recs;   /* n records, in file order; NULL for a count */
};

/* ---- messages ----------------------------------------------------------------------------------------------- */

/* Sets inb_errmsg() to `task file 'PATH' line L col C: <fmt...>` (without the parts that are 0) and returns
 * code. */
static int file_err(const char *path, int64_t line, size_t col, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int file_err(const char *path, int64_t line, size_t col, int code, const char *fmt, ...) {
  char msg[INB__ERRMSG_MAX], where[64] = "";
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (line && col)
    snprintf(where, sizeof where, " line %lld col %zu", (long long)line, col);
  else if (line)
    snprintf(where, sizeof where, " line %lld", (long long)line);
  return inb__err(code, "task file '%s'%s: %s", path, where, msg);
}

/* A failed system call on the file: INB_EIO with the system's reason. */
static int sys_err(const char *path, const char *what, int errnum) {
  char reason[256];
  if (strerror_r(errnum, reason, sizeof reason) != 0) snprintf(reason, sizeof reason, "error %d", errnum);
  return file_err(path, 0, 0, INB_EIO, "%s: %s", what, reason);
}

/* ---- reading ------------------------------------------------------------------------------------------------ */

/* Reads all of fd into a new buffer (*buf, the caller's: inb__free) with one spare byte after its *n bytes, so
 * that the last line can be NUL-terminated without moving anything. A regular file takes one allocation and two
 * reads; a pipe grows the buffer by doubling. */
static int read_all(int fd, const char *path, const struct stat *st, char **buf, size_t *n) {
  size_t cap = S_ISREG(st->st_mode) && st->st_size > 0 ? (size_t)st->st_size + 1 : 4096, len = 0;
  char *p = NULL;
  int rc = 0;
  for (;;) {
    if (!p || len == cap) {
      if (p && cap > SIZE_MAX / 2) {
        rc = file_err(path, 0, 0, INB_ENOMEM, "too large to hold in memory");
        goto out;
      }
      if (p) cap *= 2;
      char *q = inb__realloc(p, cap);
      if (!q) {
        rc = file_err(path, 0, 0, INB_ENOMEM, "out of memory (%zu bytes)", cap);
        goto out;
      }
      p = q;
    }
    ssize_t r = read(fd, p + len, cap - len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      rc = sys_err(path, "cannot read", errno);
      goto out;
    }
    if (r == 0) break;
    len += (size_t)r;
  }
  *buf = p, *n = len;
  p = NULL;   /* the caller's now; len < cap: the loop only ends after a read into spare room */
out:
  inb__free(p);
  return rc;
}

/* ---- checking the text -------------------------------------------------------------------------------------- */

/* True when none of the 8 bytes at p is a NUL or has its high bit set: plain ASCII text, the common case, is
 * checked a word at a time. */
static bool ascii8(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
  return ((v | ((v - ones) & ~v)) & highs) == 0;   /* (v - ones) & ~v has a high bit where v has a zero byte */
}

/* The offset of the first byte of s[0..n) that is a NUL or starts no valid UTF-8 sequence; n when none. */
static size_t first_bad_byte(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    if (n - i >= 8 && ascii8(p + i)) {
      i += 8;
    } else if (p[i] >= 0x80) {
      size_t k = inb__utf8_len(p + i, n - i);
      if (!k) return i;
      i += k;
    } else if (p[i] == 0) {
      return i;
    } else {
      i++;
    }
  }
  return n;
}

/* INB_EINVAL for the bad byte at s[bad], with its line and its column in characters (everything before it is
 * valid UTF-8, so counting the bytes that are not continuation bytes counts characters). */
static int bad_text(const char *path, const char *s, size_t bad) {
  int64_t line = 1;
  size_t col = 1;
  for (size_t i = 0; i < bad; i++) {
    if (s[i] == '\n')
      line++, col = 1;
    else if (((unsigned char)s[i] & 0xC0) != 0x80)
      col++;
  }
  if (s[bad] == '\0') return file_err(path, line, col, INB_EINVAL, "a NUL byte (tasks are lines of UTF-8 text)");
  return file_err(path, line, col, INB_EINVAL, "not UTF-8 text (byte 0x%02x)", (unsigned char)s[bad]);
}

/* ---- lines -------------------------------------------------------------------------------------------------- */

static bool blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* True when s[0..n) is blank or a comment: no task. */
static bool skipped(const char *s, size_t n) {
  size_t i = 0;
  while (i < n && blank(s[i])) i++;
  return i == n || s[i] == '#';
}

/* Finds the tasks of text[from..n) (text[n] writable): a record for each, its line ending replaced by a NUL.
 * recs has room for every line. Returns the number of tasks; *lines gets the number of lines. */
static int64_t split_lines(char *text, size_t from, size_t n, task_rec *recs, int64_t *lines) {
  int64_t ntasks = 0, line = 0;
  for (size_t start = from; start < n;) {
    char *nl = memchr(text + start, '\n', n - start);
    size_t end = nl ? (size_t)(nl - text) : n, next = nl ? end + 1 : n;
    line++;
    if (end > start && text[end - 1] == '\r') end--;
    if (!skipped(text + start, end - start)) {
      text[end] = '\0';
      recs[ntasks++] = (task_rec){start, end - start, line};
    }
    start = next;
  }
  *lines = line;
  return ntasks;
}

/* Makes the list of the tasks in buf[0..n) (taken: freed on failure too), naming the file `path`. */
static int tasks_of_text(const char *path, char *buf, size_t n, inb__tasks **out) {
  int rc = 0;
  inb__tasks *t = NULL;
  size_t skip = n >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0; /* a byte-order mark */
  size_t bad = first_bad_byte(buf + skip, n - skip), nl = 0;
  if (bad < n - skip) {
    rc = bad_text(path, buf + skip, bad);
    goto out;
  }
  for (const char *p = buf; (p = memchr(p, '\n', n - (size_t)(p - buf))) != NULL; p++) nl++;
  if (!(t = inb__calloc(1, sizeof *t)) || !(t->path = inb__strdup(path)) ||
      !(t->recs = inb__malloc((nl + 1) * sizeof *t->recs))) {
    rc = file_err(path, 0, 0, INB_ENOMEM, "out of memory for %zu lines", nl + 1);
    goto out;
  }
  int64_t lines;
  t->n = split_lines(buf, skip, n, t->recs, &lines);
  if (t->n == 0) {
    rc = lines ? file_err(path, 0, 0, INB_EINVAL, "no tasks: its %lld line%s blank or comments", (long long)lines,
                          lines == 1 ? " is" : "s are")
               : file_err(path, 0, 0, INB_EINVAL, "no tasks: the file is empty");
    goto out;
  }
  t->buf = buf;
  buf = NULL;   /* the list's now */
  *out = t;
  t = NULL;
out:
  inb__free(buf);
  inb__tasks_free(&t);
  return rc;
}

/* ---- lists -------------------------------------------------------------------------------------------------- */

int inb__tasks_load(const char *path, inb__tasks **out) {
  if (!out) return inb__err(INB_EINVAL, "inb__tasks_load: out is NULL");
  *out = NULL;
  if (!path) return inb__err(INB_EINVAL, "inb__tasks_load: path is NULL");
  int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);
  char *buf = NULL;
  size_t n = 0;
  struct stat st;
  if (fd < 0) {
    rc = errno == ENOENT || errno == ENOTDIR ? file_err(path, 0, 0, INB_ENOTFOUND, "no such file")
                                             : sys_err(path, "cannot open", errno);
    goto out;
  }
  if (fstat(fd, &st) != 0) {
    rc = sys_err(path, "cannot read", errno);
    goto out;
  }
  if (S_ISDIR(st.st_mode)) {   /* a usage error, as a directory given for a job file is */
    rc = file_err(path, 0, 0, INB_EINVAL, "a directory, not a file of tasks");
    goto out;
  }
  if ((rc = read_all(fd, path, &st, &buf, &n)) != 0) goto out;
  rc = tasks_of_text(path, buf, n, out);
  buf = NULL;   /* taken by tasks_of_text */
out:
  inb__free(buf);
  if (fd >= 0) close(fd);
  return rc;
}

int inb__tasks_range(int64_t count, inb__tasks **out) {
  if (!out) return inb__err(INB_EINVAL, "inb__tasks_range: out is NULL");
  *out = NULL;
  if (count < 1) return inb__err(INB_EINVAL, "expected 1 task or more; found %lld", (long long)count);
  inb__tasks *t = inb__calloc(1, sizeof *t);
  if (!t) return inb__err(INB_ENOMEM, "out of memory for a list of %lld tasks", (long long)count);
  t->n = count;
  *out = t;
  return 0;
}

int64_t inb__tasks_count(const inb__tasks *t) { return t ? t->n : 0; }

const char *inb__tasks_text(const inb__tasks *t, int64_t i, size_t *len) {
  if (len) *len = 0;
  if (!t || !t->recs || i < 0 || i >= t->n) return NULL;
  if (len) *len = t->recs[i].len;
  return t->buf + t->recs[i].off;
}

int64_t inb__tasks_line(const inb__tasks *t, int64_t i) {
  return t && t->recs && i >= 0 && i < t->n ? t->recs[i].line : 0;
}

const char *inb__tasks_path(const inb__tasks *t) { return t ? t->path : NULL; }

void inb__tasks_free(inb__tasks **t) {
  if (!t || !*t) return;
  inb__free((*t)->buf);
  inb__free((*t)->recs);
  inb__free((*t)->path);
  inb__free(*t);
  *t = NULL;
}
