/* example_normalize: batchflow's within-batch parallelism on an in-memory batch.
 *
 * A batch holds N synthetic "images" (component `images`, N x H x W float32). The action `normalize` runs once
 * per image on the threads target: it rescales the image to zero mean and unit variance in place and returns
 * the original mean. Its post gathers the means, in image order, into a new component `means`, and counts the
 * images that could not be normalized (a constant image has no variance: that task fails with a message, the
 * others go on, and post reports it, as batchflow's any_action_failed would let it).
 *
 * usage: example_normalize [n_images] [n_workers]     (defaults 2000 and 0 = every core) */
#include <inbatch.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { H = 64, W = 64 };

static int normalize(inb_item *it, const inb_args *args, inb_value *result) {
  const inb_array *img = &inb_args_at(args, 0)->u.a; /* row i of `images`: a view, H x W */
  const inb_value *eps = inb_args_get(args, "eps");
  float *px = img->data;
  size_t n = inb_array_count(img);
  double sum = 0, sq = 0;
  for (size_t k = 0; k < n; k++) sum += px[k], sq += (double)px[k] * px[k];
  double mean = sum / (double)n, var = sq / (double)n - mean * mean;
  if (var <= (eps ? eps->u.r : 1e-12))
    return inb_fail(it, INB_EINVAL, "image %lld is constant (%.3g): nothing to normalize",
                    (long long)inb_batch_index(inb_item_batch(it), inb_item_task(it)), mean);
  float inv = (float)(1.0 / sqrt(var));
  for (size_t k = 0; k < n; k++) px[k] = (float)((px[k] - mean) * inv);
  *result = inb_real(mean);
  return 0;
}

static int gather_means(inb_batch *b, const inb_results *r, const inb_args *call, const inb_args *extra,
                        inb_batch **out, void *data) {
  (void)call, (void)out, (void)data;
  size_t n = inb_results_count(r);
  double *means = malloc((n ? n : 1) * sizeof *means);
  if (!means) return INB_ENOMEM;
  for (size_t i = 0; i < n; i++) means[i] = inb_result_ok(r, i) ? inb_result_value(r, i)->u.r : NAN;
  inb_array a = {.dtype = INB_F64, .ndim = 1, .shape = {(int64_t)n}, .data = means};
  int rc = inb_batch_set(b, inb_args_get(extra, "component")->u.s.p, a, true);
  if (rc) {
    free(means);
    return rc;
  }
  if (inb_any_failed(r)) {
    const inb_error *e = NULL;
    for (size_t i = 0; !e && i < n; i++) e = inb_result_error(r, i);
    fprintf(stderr, "normalize: %zu of %zu images failed; first: task %zu: %s\n", inb_failed_count(r), n, e->task,
            e->message);
  }
  return 0;
}

static float *make_images(size_t n) {
  float *px = malloc(n * H * W * sizeof *px);
  if (!px) return NULL;
  unsigned seed = 42;
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < H * W; k++)
      px[i * H * W + k] = (i % 500 == 7) ? 3.0f : (float)(i % 10) + (float)rand_r(&seed) / (float)RAND_MAX;
  return px;
}

int main(int argc, char **argv) {
  size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000;
  int workers = argc > 2 ? atoi(argv[2]) : 0;
  inb_batch *b = inb_batch_new(NULL, n);
  float *px = make_images(n);
  inb_args *extra = inb_args_new(), *call = inb_args_new();
  if (!b || !px || !extra || !call) return fprintf(stderr, "out of memory\n"), 1;
  inb_batch_set(b, "images", (inb_array){.dtype = INB_F32, .ndim = 3, .shape = {(int64_t)n, H, W}, .data = px}, true);
  inb_args_put(extra, "component", inb_str("means"));
  inb_args_put(call, "eps", inb_real(1e-9));

  inb_action normalize_action = {.name = "normalize", .fn = normalize, .init = "images", .post = gather_means,
                                 .target = INB_THREADS, .extra = extra};
  inb_opts opts = {.n_workers = workers};
  int rc = inb_run(b, &normalize_action, call, &opts, NULL);
  if (rc) {
    fprintf(stderr, "normalize failed: %s: %s\n", inb_strerror(rc), inb_errmsg());
  } else {
    const inb_array *means = inb_batch_get(b, "means");
    double total = 0;
    size_t ok = 0;
    for (size_t i = 0; i < n; i++)
      if (!isnan(((double *)means->data)[i])) total += ((double *)means->data)[i], ok++;
    printf("normalized %zu of %zu images of %dx%d on %s; mean of the means %.4f\n", ok, n, H, W, "threads",
           ok ? total / (double)ok : 0.0);
  }
  inb_args_free(&extra);
  inb_args_free(&call);
  inb_batch_free(&b);
  return rc ? 1 : 0;
}
