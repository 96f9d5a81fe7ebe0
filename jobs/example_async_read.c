/* example_async_read: many files read concurrently on one event loop, with the `async` target.
 *
 * The program writes n_files files of about file_kib KiB each (sizes vary) into a fresh temporary directory
 * and keeps each file's FNV-1a checksum in the batch component `checksum`. The action `read_file` has only a
 * .start, so it runs async without naming the target: tasks start on one libuv loop in the calling thread, at
 * most 256 at once (max_in_flight), so any number of files stays within the limit on open files. A task's start opens its file with uv_fs_open; the callbacks chain uv_fs_read until end of
 * file (hashing as the bytes arrive) and uv_fs_close; the close callback finishes the task with
 * inb_done(it, 0, [bytes, checksum]) — a 2-element int64 array that lives on the callback's stack, which is
 * fine because inb_done copies it. A file that cannot be read finishes its task with an error code; the
 * other tasks go on. The post compares every checksum with the one written, stores the byte counts as a new
 * component `bytes`, and counts mismatches and failures in main's summary (the action's data). Then the files
 * are removed and one line printed.
 *
 * usage: example_async_read [n_files] [file_kib]      (defaults 1000 and 4; TMPDIR or /tmp holds the files)
 * exit status: 0 if every file was read back intact, 1 otherwise, 2 for bad arguments. */
#include <inbatch.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { READ_BUF = 16 * 1024, PATH_CAP = 512 }; /* each task reads through its own 16 KiB buffer */

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n) {
  for (size_t k = 0; k < n; k++) h = (h ^ p[k]) * 1099511628211ull;
  return h;
}
#define FNV_BASIS 14695981039346656037ull

static void file_path(char *out, const char *dir, int64_t i) {
  snprintf(out, PATH_CAP, "%s/part-%06lld.bin", dir, (long long)i);
}

/* ---- one task: open -> read ... read -> close, all on the loop ---------------------------------------- */

typedef struct {
  uv_fs_t req;               /* reused for each step (uv_fs_req_cleanup in between) */
  inb_item *it;
  uv_file fd;
  int64_t offset;
  uint64_t hash;
  int err;                   /* the first libuv error, 0 if none */
  char path[PATH_CAP];       /* copied in start: the task's args are only valid during start */
  unsigned char buf[READ_BUF];
} file_read;

static void finish(file_read *fr) {
  if (fr->err) {
    inb_done(fr->it, inb_fail(fr->it, INB_EIO, "'%s': %s", fr->path, uv_strerror(fr->err)), inb_none());
  } else {
    int64_t out[2] = {fr->offset, (int64_t)fr->hash}; /* copied by inb_done */
    inb_array a = {.dtype = INB_I64, .ndim = 1, .shape = {2}, .data = out};
    inb_done(fr->it, 0, inb_arr(a));
  }
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
  uv_buf_t b = uv_buf_init((char *)fr->buf, READ_BUF);
  int rc = uv_fs_read(fr->req.loop, &fr->req, fr->fd, &b, 1, fr->offset, on_read);
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
    fr->hash = fnv1a(fr->hash, fr->buf, (size_t)got);
    fr->offset += got;
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
  read_next(fr);
}

static int read_file(inb_item *it, const inb_args *args) {
  const inb_value *index = inb_args_at(args, 0), *dir = inb_args_get(args, "dir");
  if (!index || !dir || dir->kind != INB_STR) return inb_fail(it, INB_EINVAL, "read_file needs an index and `dir`");
  file_read *fr = malloc(sizeof *fr);
  if (!fr) return INB_ENOMEM;
  *fr = (file_read){.it = it, .hash = FNV_BASIS};
  fr->req.data = fr;
  file_path(fr->path, dir->u.s.p, index->u.i);
  int rc = uv_fs_open(inb_item_loop(it), &fr->req, fr->path, O_RDONLY, 0, on_open);
  if (rc) {
    int code = inb_fail(it, INB_EIO, "'%s': %s", fr->path, uv_strerror(rc));
    free(fr);
    return code; /* a start that fails without inb_done: the task's failure record */
  }
  return 0;
}

/* ---- post: check every file, keep the byte counts ------------------------------------------------------ */

/* What post found, in the caller's struct (the action's data). */
typedef struct {
  size_t ok, mismatched, failed;
  int64_t bytes;
} summary;

static int check_files(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                       inb_batch **out, void *data) {
  (void)call, (void)extra, (void)out;
  summary *sum = data;
  size_t n = inb_results_count(r);
  const int64_t *want = inb_batch_get(b, "checksum")->data;
  int64_t *bytes = malloc((n ? n : 1) * sizeof *bytes);
  if (!bytes) return INB_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    const inb_value *v = inb_result_value(r, i);
    if (!v) {
      const inb_error *e = inb_result_error(r, i);
      if (sum->failed++ == 0) fprintf(stderr, "example_async_read: file %zu: %s\n", i, e->message);
      bytes[i] = -1;
      continue;
    }
    const int64_t *got = v->u.a.data;
    bytes[i] = got[0];
    sum->bytes += got[0];
    if (got[1] == want[i]) {
      sum->ok++;
    } else if (sum->mismatched++ == 0) {
      fprintf(stderr, "example_async_read: file %zu: checksum %016llx, written %016llx\n", i,
              (unsigned long long)got[1], (unsigned long long)want[i]);
    }
  }
  inb_array a = {.dtype = INB_I64, .ndim = 1, .shape = {(int64_t)n}, .data = bytes};
  int rc = inb_batch_set(b, "bytes", a, true);
  if (rc) free(bytes);
  return rc;
}

/* ---- the files ------------------------------------------------------------------------------------------ */

/* Writes n files of about kib KiB (from half to one and a half times) into dir; their checksums into sums. */
static int write_files(const char *dir, size_t n, size_t kib, int64_t *sums) {
  size_t max = kib * 1024 * 3 / 2 + 1;
  unsigned char *buf = malloc(max);
  if (!buf) return -1;
  uint64_t x = 88172645463325252ull;
  char path[PATH_CAP];
  int rc = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    size_t len = kib * 1024 / 2 + (size_t)(x % (kib * 1024 + 1));
    for (size_t k = 0; k < len; k++) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      buf[k] = (unsigned char)x;
    }
    sums[i] = (int64_t)fnv1a(FNV_BASIS, buf, len);
    file_path(path, dir, (int64_t)i);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len) rc = -1;
    if (f && fclose(f) != 0) rc = -1;
    if (rc) fprintf(stderr, "example_async_read: cannot write '%s': %s\n", path, strerror(errno));
  }
  free(buf);
  return rc;
}

static void remove_files(const char *dir, size_t n) {
  char path[PATH_CAP];
  for (size_t i = 0; i < n; i++) {
    file_path(path, dir, (int64_t)i);
    unlink(path);
  }
  rmdir(dir);
}

static int parse_size(const char *s, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v == 0 || s[0] == '-') return -1;
  *out = (size_t)v;
  return 0;
}

int main(int argc, char **argv) {
  size_t n = 1000, kib = 4;
  if (argc > 3 || (argc > 1 && parse_size(argv[1], &n)) || (argc > 2 && parse_size(argv[2], &kib)) ||
      kib > 1024 * 1024) {
    fprintf(stderr, "usage: example_async_read [n_files] [file_kib]   (defaults 1000 4)\n");
    return 2;
  }
  const char *tmp = getenv("TMPDIR");
  char dir[PATH_CAP - 32];
  snprintf(dir, sizeof dir, "%s/example_async_read.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    fprintf(stderr, "example_async_read: cannot create a directory under %s: %s\n", tmp ? tmp : "/tmp",
            strerror(errno));
    return 1;
  }
  int status = 1;
  inb_batch *b = inb_batch_new(NULL, n);
  inb_args *call = inb_args_new();
  int64_t *sums = malloc(n * sizeof *sums);
  if (!b || !call || !sums || inb_args_put(call, "dir", inb_str(dir))) {
    fprintf(stderr, "example_async_read: out of memory\n");
    free(sums);
    goto out;
  }
  if (write_files(dir, n, kib, sums)) {
    free(sums);
    goto out;
  }
  inb_array a = {.dtype = INB_I64, .ndim = 1, .shape = {(int64_t)n}, .data = sums};
  if (inb_batch_set(b, "checksum", a, true)) {
    free(sums);
    goto out;
  }

  summary summ = {0};
  inb_action act = {.name = "read_file", .start = read_file, .init = "indices", .post = check_files, .data = &summ};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = inb_run(b, &act, call, NULL, NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-6;
  if (rc) {
    fprintf(stderr, "example_async_read: inb_run: %s: %s\n", inb_strerror(rc), inb_errmsg());
    goto out;
  }
  printf("example_async_read: %zu files, %.1f MB read concurrently in %.1f ms (%.0f files/s): %zu intact, "
         "%zu checksum mismatches, %zu failed\n", n, (double)summ.bytes / 1e6, ms, (double)n / (ms * 1e-3),
         summ.ok, summ.mismatched, summ.failed);
  status = summ.ok == n ? 0 : 1;
out:
  remove_files(dir, n);
  inb_args_free(&call);
  inb_batch_free(&b);
  return status;
}
