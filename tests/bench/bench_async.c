/* bench_async: reading many small files with target `async` (one libuv loop, uv_fs_* requests on libuv's
 * threadpool) against target `threads` (n_workers 2 and 8, plain open/read/close in fn) and target `for`
 * (the same fn, one task after another in the calling thread: the baseline).
 *
 * The benchmark writes nfiles files of kib KiB each into a fresh directory under $TMPDIR (or /tmp); the first
 * 8 bytes of file i hold i, and every task checks them, so a task that read the wrong file fails. The page
 * cache cannot be dropped here (that needs root and would disturb the machine), so every case reads cached
 * files: one untimed warm-up pass first, then `reps` repetitions, each running every case once, in an order
 * that rotates from one repetition to the next so that drift in the machine's speed hits the cases alike.
 * Each case's figure is the best and the median of its repetitions (the whole inb_run: init, tasks, post);
 * tasks/s is computed from the best. A read is open, read until end of file (kib KiB, then 0 bytes), close,
 * for every case alike, into a buffer the task allocates. Post checks that every task read kib KiB.
 *
 * Usage: bench_async [nfiles] [kib] [reps]     defaults: 2000 64 5
 * Output: one line per case, its ratio to `for` beside it (>1 = faster than `for`); the libuv threadpool
 * size (UV_THREADPOOL_SIZE, default 4) is printed too, because it bounds the async case's parallelism.
 * A wrong result (inb_run not 0, a task failed, a wrong byte count) prints why and exits 1, after removing
 * the files; bad arguments exit 2. */
#include <inbatch.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "benchclock.h"

enum { PATH_CAP = 512 };

static char g_dir[PATH_CAP - 32]; /* the files' directory; empty until created */
static size_t g_nfiles, g_bytes;  /* how many files exist; the size of each */
static unsigned char *g_arena;    /* case async_prefaulted: file i is read into g_arena + i * g_bytes */

static void file_path(char *out, int64_t i) { snprintf(out, PATH_CAP, "%s/f%06lld", g_dir, (long long)i); }

static void remove_files(void) {
  if (!g_dir[0]) return;
  char path[PATH_CAP];
  for (size_t i = 0; i < g_nfiles; i++) {
    file_path(path, (int64_t)i);
    unlink(path);
  }
  rmdir(g_dir);
  g_dir[0] = '\0';
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "bench_async: ERROR ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  remove_files();
  exit(1);
}

/* Every task opens its file at once, so up to n files are open together: raise the soft limit on open files
 * to the hard one (often 1024 -> 1048576) if n might not fit. Returns 0, or -1 if n files cannot be open. */
static int allow_open_files(size_t n) {
  struct rlimit rl;
  rlim_t need = (rlim_t)n + 64; /* stdio, libuv's own descriptors, MPI's */
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0; /* unknown: let the opens speak */
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  }
  return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need ? 0 : -1;
}

static void make_files(size_t n, size_t bytes) {
  const char *tmp = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/bench_async.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(g_dir)) {
    g_dir[0] = '\0';
    die("cannot create a directory under %s: %s", tmp && *tmp ? tmp : "/tmp", strerror(errno));
  }
  g_bytes = bytes;
  unsigned char *buf = malloc(bytes);
  if (!buf) die("out of memory");
  for (size_t k = 0; k < bytes; k++) buf[k] = (unsigned char)(k * 131 + 7);
  char path[PATH_CAP];
  for (size_t i = 0; i < n; i++) {
    int64_t tag = (int64_t)i;
    memcpy(buf, &tag, sizeof tag);
    file_path(path, tag);
    g_nfiles = i + 1; /* so that remove_files also removes a half-written last file */
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, bytes, f) != bytes || fclose(f) != 0) {
      free(buf);
      die("cannot write '%s': %s", path, strerror(errno));
    }
  }
  free(buf);
}

/* ---- fn: plain blocking reads (targets threads and for) ------------------------------------------------- */

/* Checks the file's tag (its first 8 bytes) against its index; 0 or a task failure. */
static int check_tag(inb_item *it, const unsigned char *buf, size_t got, int64_t index) {
  int64_t tag = -1;
  if (got >= sizeof tag) memcpy(&tag, buf, sizeof tag);
  return tag == index ? 0 : inb_fail(it, INB_ECORRUPT, "file %lld holds tag %lld", (long long)index, (long long)tag);
}

/* Where the next read goes in a g_bytes buffer: after what was read, or (a file longer than expected, which
 * post will reject) over the start again, only to find the end of the file. */
static size_t read_at(size_t total) { return total < g_bytes ? total : 0; }
static size_t read_len(size_t total) { return total < g_bytes ? g_bytes - total : g_bytes; }

static int read_blocking(inb_item *it, const inb_args *args, inb_value *result) {
  int64_t index = inb_args_at(args, 0)->u.i;
  char path[PATH_CAP];
  file_path(path, index);
  unsigned char *buf = malloc(g_bytes);
  if (!buf) return INB_ENOMEM;
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    free(buf);
    return inb_fail(it, INB_EIO, "open '%s': %s", path, strerror(errno));
  }
  size_t total = 0;
  ssize_t got;
  while ((got = read(fd, buf + read_at(total), read_len(total))) > 0) total += (size_t)got;
  int rc = got < 0 ? inb_fail(it, INB_EIO, "read '%s': %s", path, strerror(errno)) : check_tag(it, buf, total, index);
  close(fd);
  free(buf);
  *result = inb_int((int64_t)total);
  return rc;
}

/* ---- start: the same reads as a chain of uv_fs requests (target async) --------------------------------- */

typedef struct {
  uv_fs_t req; /* reused for open, each read and close */
  inb_item *it;
  int64_t index;
  uv_file fd;
  int err;
  size_t total;
  unsigned char *buf;
} file_read;

static void finish(file_read *fr) {
  int rc = fr->err ? inb_fail(fr->it, INB_EIO, "file %lld: %s", (long long)fr->index, uv_strerror(fr->err))
                   : check_tag(fr->it, fr->buf, fr->total, fr->index);
  inb_done(fr->it, rc, inb_int((int64_t)fr->total));
  if (!g_arena) free(fr->buf);
  free(fr);
}

static void on_close(uv_fs_t *req) {
  file_read *fr = req->data;
  if (req->result < 0 && !fr->err) fr->err = (int)req->result;
  uv_fs_req_cleanup(req);
  finish(fr);
}

static void close_file(file_read *fr) {
  int rc = uv_fs_close(fr->req.loop, &fr->req, fr->fd, on_close);
  if (rc) {
    if (!fr->err) fr->err = rc;
    finish(fr);
  }
}

static void on_read(uv_fs_t *req);

static void read_next(file_read *fr) {
  uv_buf_t b = uv_buf_init((char *)fr->buf + read_at(fr->total), (unsigned)read_len(fr->total));
  int rc = uv_fs_read(fr->req.loop, &fr->req, fr->fd, &b, 1, (int64_t)fr->total, on_read);
  if (rc) {
    fr->err = rc;
    close_file(fr);
  }
}

static void on_read(uv_fs_t *req) {
  file_read *fr = req->data;
  ssize_t got = req->result;
  uv_fs_req_cleanup(req);
  if (got > 0) {
    fr->total += (size_t)got;
    read_next(fr);
    return;
  }
  if (got < 0) fr->err = (int)got;
  close_file(fr); /* end of file, or an error */
}

static void on_open(uv_fs_t *req) {
  file_read *fr = req->data;
  ssize_t fd = req->result;
  uv_fs_req_cleanup(req);
  if (fd < 0) {
    fr->err = (int)fd;
    finish(fr);
    return;
  }
  fr->fd = (uv_file)fd;
  /* only now: a buffer per file being read, not per file waiting to open */
  fr->buf = g_arena ? g_arena + (size_t)fr->index * g_bytes : malloc(g_bytes);
  if (!fr->buf) {
    fr->err = UV_ENOMEM;
    close_file(fr);
    return;
  }
  read_next(fr);
}

static int read_async(inb_item *it, const inb_args *args) {
  file_read *fr = calloc(1, sizeof *fr);
  if (!fr) return INB_ENOMEM;
  fr->it = it;
  fr->index = inb_args_at(args, 0)->u.i;
  fr->req.data = fr;
  char path[PATH_CAP];
  file_path(path, fr->index);
  int rc = uv_fs_open(inb_item_loop(it), &fr->req, path, O_RDONLY, 0, on_open);
  if (rc) {
    free(fr);
    return inb_fail(it, INB_EIO, "uv_fs_open '%s': %s", path, uv_strerror(rc));
  }
  return 0;
}

/* ---- post: every file read in full ---------------------------------------------------------------------- */

static char g_post_error[512];

static int post_check(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                      inb_batch **out, void *data) {
  (void)call, (void)extra, (void)out, (void)data;
  size_t n = inb_results_count(r);
  if (n != inb_batch_size(b)) {
    snprintf(g_post_error, sizeof g_post_error, "post saw %zu results for %zu files", n, inb_batch_size(b));
    return INB_EITEM;
  }
  for (size_t i = 0; i < n; i++) {
    const inb_value *v = inb_result_value(r, i);
    if (!v) {
      snprintf(g_post_error, sizeof g_post_error, "file %zu: %s", i, inb_result_error(r, i)->message);
      return INB_EITEM;
    }
    if (v->kind != INB_INT || v->u.i != (int64_t)g_bytes) {
      snprintf(g_post_error, sizeof g_post_error, "file %zu: %lld bytes read, %zu expected", i, (long long)v->u.i,
               g_bytes);
      return INB_EITEM;
    }
  }
  return 0;
}

/* ---- the cases ------------------------------------------------------------------------------------------ */

typedef struct {
  const char *name;
  inb_target target;
  int n_workers;
  unsigned char *arena; /* async_prefaulted: the arena; else NULL (a malloc per file) */
  double t[64];         /* seconds, one per repetition */
} bench_case;

static double run_case(inb_batch *b, const bench_case *c) {
  g_arena = c->arena;
  inb_action act = {.name = "read_files", .fn = read_blocking, .start = read_async, .init = "indices",
                    .post = post_check};
  inb_opts o = {.target = c->target, .n_workers = c->n_workers};
  g_post_error[0] = '\0';
  double t0 = now_s();
  int rc = inb_run(b, &act, NULL, &o, NULL);
  double t = now_s() - t0;
  if (rc) die("case %s: inb_run returned %d (%s): %s%s%s", c->name, rc, inb_strerror(rc), inb_errmsg(),
              g_post_error[0] ? "; post: " : "", g_post_error);
  return t;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static long parse_arg(const char *s, const char *what, long min, long max) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < min || v > max) {
    fprintf(stderr, "bench_async: %s: expected an integer in [%ld, %ld]; found '%s'\n", what, min, max, s);
    fprintf(stderr, "usage: bench_async [nfiles] [kib] [reps]   (defaults 2000 64 5)\n");
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  if (argc > 4) {
    fprintf(stderr, "usage: bench_async [nfiles] [kib] [reps]   (defaults 2000 64 5)\n");
    return 2;
  }
  long nfiles = argc > 1 ? parse_arg(argv[1], "nfiles", 1, 1000000) : 2000;
  long kib = argc > 2 ? parse_arg(argv[2], "kib", 1, 1 << 20) : 64;
  long reps = argc > 3 ? parse_arg(argv[3], "reps", 1, 64) : 5;
  const char *pool = getenv("UV_THREADPOOL_SIZE");

  if (allow_open_files((size_t)nfiles))
    die("%ld files would be open at once: more than the limit on open files allows (ulimit -n)", nfiles);
  make_files((size_t)nfiles, (size_t)kib * 1024);
  inb_batch *b = inb_batch_new(NULL, (size_t)nfiles);
  if (!b) die("out of memory");
  /* async starts every read at once, so it holds a buffer per file: nfiles x kib KiB, which malloc returns
   * to the kernel after each run and page-faults in again the next. async_prefaulted reads into an arena of
   * that size, faulted in before timing, to show what the loop itself costs. */
  unsigned char *arena = malloc((size_t)nfiles * (size_t)kib * 1024);
  if (!arena) die("out of memory for a %ld x %ld KiB arena", nfiles, kib);
  memset(arena, 0, (size_t)nfiles * (size_t)kib * 1024);
  bench_case cases[] = {
      {"async", INB_ASYNC, 0, NULL, {0}},
      {"async_prefaulted", INB_ASYNC, 0, arena, {0}},
      {"threads2", INB_THREADS, 2, NULL, {0}},
      {"threads8", INB_THREADS, 8, NULL, {0}},
      {"for", INB_FOR, 0, NULL, {0}},
  };
  enum { NCASES = sizeof cases / sizeof cases[0], FOR = NCASES - 1 };
  printf("bench_async  files=%ld  size=%ldKiB  total=%.1fMB  dir=%s  reps=%ld (best and median; the page cache is "
         "warm: one untimed pass first)  uv_threadpool=%s\n", nfiles, kib, (double)nfiles * (double)kib / 1024.0,
         g_dir, reps, pool && *pool ? pool : "4 (default)");

  run_case(b, &cases[FOR]); /* warm-up: every file in the page cache, every code path touched once */
  run_case(b, &cases[0]);
  for (long r = 0; r < reps; r++)
    for (int k = 0; k < NCASES; k++) {
      bench_case *c = &cases[(k + r) % NCASES];
      c->t[r] = run_case(b, c);
    }

  double best[NCASES], median[NCASES];
  for (int k = 0; k < NCASES; k++) {
    double sorted[64];
    memcpy(sorted, cases[k].t, (size_t)reps * sizeof *sorted);
    qsort(sorted, (size_t)reps, sizeof *sorted, cmp_double);
    best[k] = sorted[0];
    median[k] = reps % 2 ? sorted[reps / 2] : (sorted[reps / 2 - 1] + sorted[reps / 2]) / 2;
  }
  for (int k = 0; k < NCASES; k++) {
    char workers[32] = "";
    if (cases[k].target == INB_THREADS) snprintf(workers, sizeof workers, "  n_workers=%d", cases[k].n_workers);
    printf("bench_async  case=%-16s  files=%ld  size=%ldKiB  best=%.1fms  median=%.1fms  tasks/s=%.0f  "
           "MB/s=%.0f  vs_for=%.2fx%s\n", cases[k].name, nfiles, kib, best[k] * 1e3, median[k] * 1e3,
           (double)nfiles / best[k], (double)nfiles * (double)kib / 1024.0 / best[k], best[FOR] / best[k], workers);
  }
  printf("bench_async  note: async holds %ld buffers of %ld KiB at once (%.1f MB, page-faulted anew each run); "
         "async_prefaulted shows the loop's own cost\n", nfiles, kib, (double)nfiles * (double)kib / 1024.0);
  inb_batch_free(&b);
  free(arena);
  remove_files();
  return 0;
}
