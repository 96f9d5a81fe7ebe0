/* Job arrays for exec jobs (see farm_shard.h): the array's environment, the shards' names, and their merge. */
#include "jobs/farm_shard.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/status.h"
#include "jobs/farm_retry.h"
#include "jobs/tasks.h"

/* ---- the array's environment ------------------------------------------------------------------------------------ */

/* A variable of the array as a number: *v (dflt when unset and dflt >= 0). Returns 0 or INB_EINVAL. */
static int env_int(const char *name, long long dflt, long long *v) {
  const char *s = getenv(name);
  if (!s && dflt >= 0) {
    *v = dflt;
    return 0;
  }
  char *end = NULL;
  errno = 0;
  *v = s ? strtoll(s, &end, 10) : 0;
  if (s && *s && !*end && !errno && *v >= 0) return 0;
  return inb__err(INB_EINVAL, "job array: %s %s%s%s: a number is expected (SLURM_ARRAY_TASK_ID is set: Slurm sets "
                  "SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT with it; INBATCH_NO_ARRAY=1 runs every task)", name,
                  s ? "is '" : "is not set", s ? s : "", s ? "'" : "");
}

int inb__farm_shard_from_env(inb__farm_shard *s) {
  *s = (inb__farm_shard){0};
  const char *no = getenv("INBATCH_NO_ARRAY");
  if (!getenv("SLURM_ARRAY_TASK_ID") || (no && *no && strcmp(no, "0") != 0)) return 0;
  long long id, min, step, count;
  int rc = env_int("SLURM_ARRAY_TASK_ID", -1, &id);
  if (!rc) rc = env_int("SLURM_ARRAY_TASK_MIN", -1, &min);
  if (!rc) rc = env_int("SLURM_ARRAY_TASK_STEP", 1, &step);
  if (!rc) rc = env_int("SLURM_ARRAY_TASK_COUNT", -1, &count);
  if (rc) return rc;
  if (step < 1 || count < 1 || id < min || (id - min) % step != 0 || (id - min) / step >= count)
    return inb__err(INB_EINVAL, "job array: SLURM_ARRAY_TASK_ID=%lld is not one of the array's SLURM_ARRAY_TASK_MIN="
                    "%lld, SLURM_ARRAY_TASK_STEP=%lld, SLURM_ARRAY_TASK_COUNT=%lld (ids MIN, MIN+STEP, ... COUNT of "
                    "them; INBATCH_NO_ARRAY=1 runs every task)", id, min, step, count);
  s->on = true, s->k = (id - min) / step, s->K = count;
  return 0;
}

void inb__farm_shard_range(const inb__farm_shard *s, int64_t n, int64_t *first, int64_t *end) {
  *first = s->on ? s->k * n / s->K : 0;
  *end = s->on ? (s->k + 1) * n / s->K : n;
}

/* Where the shard goes into a file's name: before the last extension of its last part, else at its end. */
static size_t insert_at(const char *path) {
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path, *dot = strrchr(base, '.');
  return dot && dot != base ? (size_t)(dot - path) : strlen(path);
}

int inb__farm_shard_name(const char *results, int64_t k, int64_t K, char *buf, size_t cap) {
  size_t at = insert_at(results);
  int len = snprintf(buf, cap, "%.*s.shard-%lld-of-%lld%s", (int)at, results, (long long)k, (long long)K,
                     results + at);
  if (len >= 0 && (size_t)len < cap) return 0;
  return inb__err(INB_EINVAL, "the results file's name '%s' is too long for a shard's", results);
}

int inb__farm_shard_job(inb__job *j) {
  inb__farm_shard s;
  int rc = inb__farm_shard_from_env(&s);
  if (rc || !s.on) return rc;
  if (j->output)
    return inb__err(INB_EINVAL, "%s: an HDF5 output (output.file) is not built yet for job arrays: use "
                    "output.results (or INBATCH_NO_ARRAY=1 to run every task in each)", j->where_output);
  char name[PATH_MAX];
  if ((rc = inb__farm_shard_name(j->results, s.k, s.K, name, sizeof name))) return rc;
  char *copy = strdup(name);
  if (!copy) return inb__err(INB_ENOMEM, "out of memory");
  free(j->results);
  j->results = copy;
  return 0;
}

/* ---- merge ------------------------------------------------------------------------------------------------------ */

/* "K-of-N" exactly, into *k and *K. */
static bool parse_shard(const char *s, size_t len, long long *k, long long *K) {
  char buf[64], *end;
  if (len == 0 || len >= sizeof buf) return false;
  memcpy(buf, s, len), buf[len] = '\0';
  if (buf[0] < '0' || buf[0] > '9') return false;
  *k = strtoll(buf, &end, 10);
  if (strncmp(end, "-of-", 4) != 0 || end[4] < '0' || end[4] > '9') return false;
  *K = strtoll(end + 4, &end, 10);
  return !*end && *K > 0 && *k < *K;
}

/* The number of shards of the job's array, from the names of the shards' files beside its results file. Returns 0,
 * INB_ENOTFOUND (none), INB_EINVAL (files of arrays of different sizes). */
static int count_shards(const char *results, int64_t *K) {
  char copy[PATH_MAX], pattern[PATH_MAX + 32];
  snprintf(copy, sizeof copy, "%s", results);
  const char *dir = dirname(copy), *base = strrchr(results, '/') ? strrchr(results, '/') + 1 : results;
  size_t at = insert_at(base);
  const char *ext = base + at;
  snprintf(pattern, sizeof pattern, "%.*s.shard-", (int)at, base);
  size_t plen = strlen(pattern), elen = strlen(ext);
  DIR *d = opendir(dir);
  if (!d) return inb__err(INB_EIO, "merge: cannot read the folder '%s': %s", dir, strerror(errno));
  long long found = 0, k, n;
  int rc = 0;
  for (struct dirent *e; !rc && (e = readdir(d));) {
    size_t len = strlen(e->d_name);
    if (len < plen + elen || strncmp(e->d_name, pattern, plen) != 0 || strcmp(e->d_name + len - elen, ext) != 0 ||
        !parse_shard(e->d_name + plen, len - plen - elen, &k, &n))
      continue;
    if (found && n != found)
      rc = inb__err(INB_EINVAL, "merge: shards of arrays of %lld and of %lld in '%s' (%s*-of-%lld%s and *-of-%lld%s): "
                    "remove those of the other array", found, n, dir, pattern, found, ext, n, ext);
    found = n;
  }
  closedir(d);
  if (!rc && !found)
    rc = inb__err(INB_ENOTFOUND, "merge: no shard results files '%s/%sK-of-N%s' (run the job in a job array first)",
                  dir, pattern, ext);
  *K = found;
  return rc;
}

/* Every shard's file is there; else the message lists the missing ones. */
static int all_there(const char *results, int64_t K) {
  char name[PATH_MAX], first[PATH_MAX] = "", missing[512] = "";
  int64_t absent = 0;
  for (int64_t k = 0; k < K; k++) {
    if (inb__farm_shard_name(results, k, K, name, sizeof name)) return INB_EINVAL;
    if (access(name, F_OK) == 0) continue;
    if (!absent) snprintf(first, sizeof first, "%s", name);
    if (absent++ < 8) {
      size_t used = strlen(missing);
      snprintf(missing + used, sizeof missing - used, "%s%lld", used ? ", " : "", (long long)k);
    }
  }
  if (!absent) return 0;
  return inb__err(INB_ENOTFOUND, "merge: %lld of %lld shards missing: shard%s %s%s of %lld (no '%s'%s: run those "
                  "array tasks again)", (long long)absent, (long long)K, absent == 1 ? "" : "s", missing,
                  absent > 8 ? ", ..." : "", (long long)K, first, absent == 1 ? "" : ", ...");
}

/* What each shard's line goes to. */
typedef struct {
  FILE *to;
  inb__farm_merged *m;
} merging;

static bool put_line(int64_t index, char **f, void *ctx) {
  (void)index;
  merging *g = ctx;
  for (int k = 0; k < INB__FARM_FIELDS; k++) {
    fputs(f[k], g->to);
    fputc(k + 1 < INB__FARM_FIELDS ? '\t' : '\n', g->to);
  }
  g->m->failed += strcmp(f[7], "failed") == 0;
  g->m->not_run += strcmp(f[7], "not_run") == 0;
  return true;
}

/* The merged file under the temporary name tmp: the header, then every shard's lines, flushed to disk. */
static int write_merged(const inb__job *j, const char *version, const char *tmp, inb__farm_merged *m) {
  FILE *to = fopen(tmp, "w");
  if (!to) return inb__err(INB_EIO, "merge: cannot write '%s': %s", tmp, strerror(errno));
  char when[32], name[PATH_MAX];
  time_t now = time(NULL);
  struct tm tm;
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
  fprintf(to, "# inbatch %s: job %s, %lld tasks, merged from %lld shards, %s\n", version, j->path, (long long)m->n,
          (long long)m->shards, when);
  fputs("# index\trank\tstart\truntime\texit\tsignal\tattempts\tstate\tcommand\tmessage\n", to);
  merging g = {to, m};
  int rc = 0;
  for (int64_t k = 0; !rc && k < m->shards; k++) {
    inb__farm_shard s = {true, k, m->shards};
    int64_t first, end;
    inb__farm_shard_range(&s, m->n, &first, &end);
    rc = inb__farm_shard_name(j->results, k, m->shards, name, sizeof name);
    if (!rc) rc = inb__farm_read_results(name, "merge", first, end, m->n, put_line, &g);
  }
  int e = 0;
  if (fflush(to) != 0 || ferror(to)) e = errno ? errno : EIO;
  else if (fsync(fileno(to)) != 0) e = errno;
  if (fclose(to) != 0 && !e) e = errno ? errno : EIO;
  if (!rc && e) rc = inb__err(INB_EIO, "merge: cannot write '%s': %s", tmp, strerror(e));
  if (rc) unlink(tmp);
  return rc;
}

static int job_tasks(const inb__job *j, int64_t *n) {
  inb__tasks *t = NULL;
  int rc = j->tasks ? inb__tasks_load(j->tasks, &t) : inb__tasks_range(j->count, &t);
  if (rc) return inb__err(rc, "%s: %s", j->where_input, inb_errmsg());
  *n = inb__tasks_count(t);
  inb__tasks_free(&t);
  return 0;
}

int inb__farm_merge(const inb__job *j, const char *version, bool overwrite, inb__farm_merged *m) {
  *m = (inb__farm_merged){0};
  struct stat st;
  if (j->input || !j->results)
    return inb__err(INB_EINVAL, "job '%s': merge puts together the results files (output.results) of a job of action "
                    "exec run in a job array; this job writes none", j->path);
  if (!overwrite && stat(j->results, &st) == 0)
    return inb__err(INB_EINVAL, "%s: the results file '%s' exists (merge --overwrite replaces it)", j->where_output,
                    j->results);
  int rc = job_tasks(j, &m->n);
  if (!rc) rc = count_shards(j->results, &m->shards);
  if (!rc) rc = all_there(j->results, m->shards);
  char tmp[PATH_MAX + 32];
  snprintf(tmp, sizeof tmp, "%s.partial-%ld", j->results, (long)getpid());
  if (!rc) rc = write_merged(j, version, tmp, m);
  if (!rc && rename(tmp, j->results) != 0) {
    rc = inb__err(INB_EIO, "merge: cannot write the results file '%s': %s", j->results, strerror(errno));
    unlink(tmp);
  }
  if (rc) return rc;
  return m->failed || m->not_run ? INB_EITEM : 0;
}
