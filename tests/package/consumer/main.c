/* A program that uses an installed inbatch: it runs an action over a batch on the threads target and creates
 * (then removes) an HDF5 output, so the library and HDF5 are really linked and loaded. Prints what it saw;
 * the test compares the output. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <inbatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int square(inb_item *it, const inb_args *args, inb_value *result) {
  (void)it;
  int64_t i = inb_args_at(args, 0)->u.i;
  *result = inb_int(i * i);
  return 0;
}

static int sum(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra, inb_batch **out,
               void *data) {
  (void)b;
  (void)call;
  (void)extra;
  (void)out;
  int64_t *total = data;
  for (size_t i = 0; i < inb_results_count(r); i++) {
    if (!inb_result_ok(r, i)) return INB_EITEM;
    *total += inb_result_value(r, i)->u.i;
  }
  return 0;
}

static int run_batch(void) {
  int64_t total = 0;
  inb_batch *b = inb_batch_new(NULL, 100);
  inb_action act = {.name = "square", .fn = square, .init = "indices", .post = sum, .target = INB_THREADS,
                    .data = &total};
  inb_opts opts = {.n_workers = 2};
  int rc = b ? inb_run(b, &act, NULL, &opts, NULL) : INB_ENOMEM;
  if (rc) fprintf(stderr, "consumer: inb_run: %s: %s\n", inb_strerror(rc), inb_errmsg());
  else printf("inb_run: 100 tasks, sum of squares %lld\n", (long long)total);
  inb_batch_free(&b);
  return rc;
}

/* One process: HDF5 writes through POSIX, no MPI launcher needed. */
static int create_and_abort_output(void) {
  const char *tmp = getenv("TMPDIR");
  char dir[4096], path[4200], partial[4200];
  snprintf(dir, sizeof dir, "%s/inbatch-consumer-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    perror("consumer: mkdtemp");
    return 1;
  }
  snprintf(path, sizeof path, "%s/out.h5", dir);
  snprintf(partial, sizeof partial, "%s/.out.h5.inbatch-partial", dir);
  inb_h5_output_spec spec = {.name = "/x", .dtype = INB_F32, .ndim = 0};
  inb_h5_output *out = NULL;
  int rc = inb_h5_create(path, &spec, 1, 10, false, NULL, &out);
  if (rc) {
    fprintf(stderr, "consumer: inb_h5_create: %s: %s\n", inb_strerror(rc), inb_errmsg());
  } else {
    int created = access(partial, F_OK) == 0;
    inb_h5_abort(&out);
    int removed = access(partial, F_OK) != 0 && access(path, F_OK) != 0;
    printf("inb_h5: output %s, %s\n", created ? "created" : "missing", removed ? "removed" : "left behind");
    rc = created && removed ? 0 : 1;
  }
  rmdir(dir);
  return rc;
}

int main(void) {
  int rc = run_batch();
  if (!rc) rc = create_and_abort_output();
  return rc ? 1 : 0;
}
