/* The journal of an exec job (see farm_journal.h): rank 0 locks and reads, every rank writes its own segment. */
#include "jobs/farm_journal.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/status.h"
#include "jobs/journal.h"
#include "mpi/comm.h"

struct inb__farm_journal {
  MPI_Comm comm;
  int rank, size;
  char dir[PATH_MAX];
  inb__journal *seg;           /* this rank's segment */
  inb__journal_lock_t *lock;   /* rank 0's */
};

static int agree(const inb__farm_journal *fj, int rc) { return fj->size > 1 ? inb__mpi_agree(rc, fj->comm) : rc; }

/* What inb__journal_read hands each record to. */
typedef struct {
  const char *dir;
  int64_t n, count;
  inb__farm_record *all;
  bool *ran;
} placing;

static int place(const void *rec, void *ctx) {
  placing *p = ctx;
  inb__farm_record r;
  memcpy(&r, rec, sizeof r);
  if (r.index < 0 || r.index >= p->n)
    return inb__err(INB_ECORRUPT, "journal '%s': a record of task %lld, but the task list has %lld: run with "
                    "--restart to discard it", p->dir, (long long)r.index, (long long)p->n);
  if (!p->ran[r.index]) p->count++;
  p->all[r.index] = r, p->ran[r.index] = true; /* the later of two records of a task (a retry journaled twice) */
  return 0;
}

/* Rank 0: the lock, then what earlier runs finished (or nothing, when restarting). */
static int take_over(inb__farm_journal *fj, const uint8_t id[32], const char *id_text, bool restart, int64_t n,
                     inb__farm_record *all, bool *ran, inb__farm_resume *res) {
  int rc = inb__journal_lock(fj->dir, &fj->lock);
  if (!rc && inb__journal_lock_stale(fj->lock)) res->took_stale = true;
  if (!rc && restart) rc = inb__journal_discard(fj->dir);
  if (rc || restart) return rc;
  placing p = {.dir = fj->dir, .n = n, .all = all, .ran = ran};
  rc = inb__journal_read(fj->dir, id, id_text, sizeof(inb__farm_record), place, &p, NULL);
  if (rc) {
    memset(ran, 0, (size_t)n * sizeof *ran); /* nothing of a refused journal is trusted */
    return rc;
  }
  res->resumed = p.count;
  return 0;
}

/* Every rank: the tasks left of first..end-1, from rank 0's list of those done. */
static int tasks_left(inb__farm_journal *fj, int64_t n, int64_t first, int64_t end, const bool *ran,
                      inb__farm_resume *res) {
  uint8_t *left = inb__malloc((size_t)n + 1);
  int rc = left ? 0 : inb__err(INB_ENOMEM, "out of memory for the list of tasks left");
  for (int64_t i = 0; left && fj->rank == 0 && i < n; i++) left[i] = !ran[i] && i >= first && i < end;
  rc = agree(fj, rc);
  if (!rc && fj->size > 1 && MPI_Bcast(left, (int)n, MPI_UINT8_T, 0, fj->comm) != MPI_SUCCESS)
    rc = inb__err(INB_EMPI, "the list of tasks left: MPI_Bcast failed");
  int64_t count = 0;
  for (int64_t i = 0; !rc && i < n; i++) count += left[i];
  if (!rc && !(res->todo = inb__malloc(((size_t)count + 1) * sizeof *res->todo)))
    rc = inb__err(INB_ENOMEM, "out of memory for the list of tasks left");
  for (int64_t i = 0, k = 0; !rc && i < n; i++)
    if (left[i]) res->todo[k++] = i;
  res->ntodo = count;
  inb__free(left);
  return agree(fj, rc);
}

/* This rank's segment: a name no other writer ever had (host, pid, rank). */
static int open_segment(inb__farm_journal *fj, const uint8_t id[32], const char *id_text) {
  char host[64] = "", writer[128];
  gethostname(host, sizeof host - 1);
  for (char *c = host; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.' || *c == '-'))
      *c = '_';
  snprintf(writer, sizeof writer, "%s-%ld-r%d", host[0] ? host : "host", (long)getpid(), fj->rank);
  return inb__journal_open(fj->dir, writer, id, id_text, sizeof(inb__farm_record), &fj->seg);
}

int inb__farm_journal_open(const char *dir, const uint8_t id[32], const char *id_text, bool restart, MPI_Comm comm,
                           int64_t n, int64_t first, int64_t end, inb__farm_record *all, bool *ran,
                           inb__farm_resume *res, inb__farm_journal **out) {
  *out = NULL;
  *res = (inb__farm_resume){0};
  inb__farm_journal *fj = inb__calloc(1, sizeof *fj);
  int size = 1;
  MPI_Comm_size(comm, &size);
  if (!fj) return size > 1 ? inb__mpi_agree(inb__err(INB_ENOMEM, "out of memory"), comm) : INB_ENOMEM;
  fj->comm = comm, fj->size = size;
  MPI_Comm_rank(comm, &fj->rank);
  snprintf(fj->dir, sizeof fj->dir, "%s", dir);
  int rc = n > INT_MAX ? inb__err(INB_EINVAL, "%lld tasks: at most %d in one job", (long long)n, INT_MAX) : 0;
  if (!rc && fj->rank == 0) rc = take_over(fj, id, id_text, restart, n, all, ran, res);
  rc = agree(fj, rc);
  if (!rc) rc = tasks_left(fj, n, first, end, ran, res);
  if (!rc) rc = agree(fj, open_segment(fj, id, id_text));
  if (!rc) {
    *out = fj;
    return 0;
  }
  inb__free(res->todo), res->todo = NULL;
  inb__journal_close(&fj->seg);
  inb__journal_unlock(&fj->lock);
  inb__free(fj);
  return rc;
}

int inb__farm_journal_add(inb__farm_journal *fj, const inb__farm_record *r, size_t n) {
  return inb__journal_append(fj->seg, r, n);
}

int inb__farm_journal_close(inb__farm_journal **fjp, bool finished) {
  if (!fjp || !*fjp) return 0;
  inb__farm_journal *fj = *fjp;
  inb__journal_close(&fj->seg);
  int rc = 0;
  if (finished) rc = agree(fj, 0); /* every segment closed before rank 0 removes them */
  if (!rc && finished && fj->rank == 0 && inb__journal_discard(fj->dir))
    rc = inb__err(INB_EIO, "the outputs are written, but their journal could not be removed: %s (remove '%s')",
                  inb_errmsg(), fj->dir);
  if (finished) rc = agree(fj, rc);
  inb__journal_unlock(&fj->lock);
  inb__free(fj);
  *fjp = NULL;
  return rc;
}

/* ---- status ---------------------------------------------------------------------------------------------------- */

typedef struct {
  int64_t n, done, failed;
  bool *seen;
  double last;   /* the latest end of a journaled task, s since the epoch */
} tally;

static int count(const void *rec, void *ctx) {
  tally *t = ctx;
  inb__farm_record r;
  memcpy(&r, rec, sizeof r);
  if (r.index < 0 || r.index >= t->n || t->seen[r.index]) return 0; /* a retry's second record counts once */
  t->seen[r.index] = true;
  if (r.failed) t->failed++;
  else t->done++;
  if (r.start + r.runtime > t->last) t->last = r.start + r.runtime;
  return 0;
}

static void put_when(FILE *to, double t) {
  char when[32];
  time_t s = (time_t)t;
  struct tm tm;
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&s, &tm));
  fprintf(to, "%s (%.0f s ago)", when, difftime(time(NULL), s));
}

/* Who holds the journal: the lock's "HOST PID START WALL" line, as a phrase. */
static void put_holder(FILE *to, const char *dir) {
  char path[PATH_MAX + 8], host[256] = "", line[512] = "";
  snprintf(path, sizeof path, "%s/lock", dir);
  FILE *f = fopen(path, "r");
  long pid = 0;
  double wall = 0;
  if (f && fgets(line, sizeof line, f) && sscanf(line, "%255s %ld %*s %lf", host, &pid, &wall) >= 2) {
    fprintf(to, "a run holds it: pid %ld on host %s, started ", pid, host);
    put_when(to, wall);
    fputs(" (inbatch checks on the next run whether it is gone)\n", to);
  } else {
    fputs("no run holds it: stopped; run the job again to resume\n", to);
  }
  if (f) fclose(f);
}

int inb__farm_journal_status(const char *dir, const uint8_t id[32], const char *id_text, int64_t n, const char *main,
                             FILE *to) {
  struct stat st;
  if (stat(dir, &st) != 0) {
    if (stat(main, &st) == 0) fprintf(to, "finished: '%s' is written (%lld tasks); no journal\n", main, (long long)n);
    else fprintf(to, "not started: no journal '%s' and no '%s' (%lld tasks to run)\n", dir, main, (long long)n);
    return 0;
  }
  tally t = {.n = n, .seen = inb__calloc((size_t)n + 1, sizeof(bool))};
  if (!t.seen) return inb__err(INB_ENOMEM, "out of memory");
  inb__journal_stats js;
  int rc = inb__journal_read(dir, id, id_text, sizeof(inb__farm_record), count, &t, &js);
  inb__free(t.seen);
  if (rc) return rc;
  fprintf(to, "%lld tasks: %lld done, %lld failed, %lld left (journal '%s', %zu segment%s)\n", (long long)n,
          (long long)t.done, (long long)t.failed, (long long)(n - t.done - t.failed), dir, js.segments,
          js.segments == 1 ? "" : "s");
  if (t.last > 0) {
    fputs("last task ended ", to);
    put_when(to, t.last);
    fputc('\n', to);
  }
  put_holder(to, dir);
  return 0;
}
