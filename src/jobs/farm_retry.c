/* Reading back a committed results file (see farm_retry.h). Its format is farm.c's write_results: two header
 * lines starting with '#', then one tab-separated line per task in index order:
 * index rank start runtime exit signal attempts state command message. */
#define _GNU_SOURCE /* timegm */
#include "jobs/farm_retry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/status.h"

enum { FIELDS = INB__FARM_FIELDS };

/* Splits line (modified) at tabs into fields; returns how many (FIELDS + 1 when there are more). */
static int split(char *line, char **field) {
  int n = 0;
  char *rest = line, *f;
  while (n < FIELDS && (f = strsep(&rest, "\t"))) field[n++] = f;
  return rest ? FIELDS + 1 : n;
}

/* "2026-11-30T01:34:46.864Z" as seconds since the epoch. */
static bool parse_time(const char *s, double *t) {
  struct tm tm = {0};
  int ms = 0;
  const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest || sscanf(rest, ".%3dZ", &ms) != 1) return false;
  *t = (double)timegm(&tm) + ms / 1000.0;
  return true;
}

static bool parse_int(const char *s, long long lo, long long hi, long long *v) {
  char *end;
  errno = 0;
  *v = strtoll(s, &end, 10);
  return *s && !*end && !errno && *v >= lo && *v <= hi;
}

/* One done line into *r. */
static bool parse_done(char **f, int64_t n, inb__farm_record *r) {
  long long index, rank, attempts;
  char *end;
  if (!parse_int(f[0], 0, n - 1, &index) || !parse_int(f[1], 0, 1 << 30, &rank) ||
      !parse_int(f[6], 1, 1 << 30, &attempts) || !parse_time(f[2], &r->start))
    return false;
  r->runtime = strtod(f[3], &end);
  if (*end || strcmp(f[4], "0") != 0 || strcmp(f[5], "-") != 0) return false;
  r->index = index, r->rank = (int32_t)rank, r->attempts = (int32_t)attempts;
  r->started = 1, r->exit_status = 0;
  return true;
}

int inb__farm_read_results(const char *path, const char *who, int64_t first, int64_t end, int64_t n,
                           inb__farm_line_fn fn, void *ctx) {
  FILE *in = fopen(path, "r");
  if (!in)
    return inb__err(errno == ENOENT ? INB_ENOTFOUND : INB_EIO, "%s: cannot read the results file '%s': %s", who, path,
                    strerror(errno));
  char *line = NULL;
  size_t cap = 0;
  int64_t lineno = 0, listed = first;
  int rc = 0;
  for (ssize_t len; !rc && (len = getline(&line, &cap, in)) > 0;) {
    lineno++;
    if (len && line[len - 1] == '\n') line[--len] = '\0';
    if (lineno == 1 && strncmp(line, "# inbatch ", 10) != 0) {
      rc = inb__err(INB_EINVAL, "%s: '%s' is not an inbatch results file (line 1)", who, path);
      break;
    }
    if (line[0] == '#') continue;
    char *f[FIELDS];
    long long index;
    bool ok = split(line, f) == FIELDS && parse_int(f[0], 0, n - 1, &index) && index == listed && listed < end &&
              (strcmp(f[7], "done") == 0 || strcmp(f[7], "failed") == 0 || strcmp(f[7], "not_run") == 0) &&
              fn(index, f, ctx);
    if (!ok)
      rc = inb__err(INB_EINVAL, "%s: '%s' line %lld: not a line of this job's results (task %lld expected, of "
                    "%lld)", who, path, (long long)lineno, (long long)listed, (long long)n);
    listed++;
  }
  if (!rc && ferror(in)) rc = inb__err(INB_EIO, "%s: cannot read '%s': %s", who, path, strerror(errno));
  if (!rc && listed != end && first == 0 && end == n)
    rc = inb__err(INB_EINVAL, "%s: '%s' lists %lld tasks; the job has %lld: it is another job's results", who, path,
                  (long long)(listed - first), (long long)n);
  else if (!rc && listed != end)
    rc = inb__err(INB_EINVAL, "%s: '%s' lists tasks %lld..%lld; its shard has tasks %lld..%lld: it is incomplete or "
                  "another job's", who, path, (long long)first, (long long)listed - 1, (long long)first,
                  (long long)end - 1);
  free(line);
  fclose(in);
  return rc;
}

typedef struct {
  int64_t n, kept;
  inb__farm_record *all;
  bool *ran;
} keeping;

static bool keep_done(int64_t index, char **f, void *ctx) {
  keeping *k = ctx;
  inb__farm_record r = {0};
  if (strcmp(f[7], "done") != 0) return true;
  if (!parse_done(f, k->n, &r)) return false;
  k->all[index] = r, k->ran[index] = true, k->kept++;
  return true;
}

int inb__farm_read_done(const char *path, int64_t first, int64_t end, int64_t n, inb__farm_record *all, bool *ran,
                        int64_t *kept) {
  keeping k = {.n = n, .all = all, .ran = ran};
  int rc = inb__farm_read_results(path, "--retry-failed", first, end, n, keep_done, &k);
  *kept = k.kept;
  return rc;
}
