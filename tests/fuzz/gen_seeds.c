/* Writes the seed corpus of the wire fuzzer: small valid messages covering every value kind, every dtype,
 * several shapes, and ok and failed results.
 *   gen_seeds DIR          (re)writes DIR/<name>.bin
 *   gen_seeds --check DIR  fails unless DIR holds exactly these bytes (ctest fuzz.seeds: a change of the
 *                          format must come with new seeds, or the fuzzer would start from rejected inputs) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpi/wire.h"
#include "seed_corpus.h"

static int64_t i64_data[8] = {1, -2, 3, -4, 5, -6, 7, -8};
static double f64_data[6] = {0.5, -1.25, 3e300, -0.0, 1e-300, 42};
static uint8_t u8_data[5] = {1, 2, 3, 4, 5};

static inb_array arr(inb_dtype t, int ndim, const int64_t *shape, void *data) {
  inb_array a = {.dtype = t, .ndim = ndim, .data = data};
  for (int d = 0; d < ndim; d++) a.shape[d] = shape[d];
  return a;
}

/* Fails the program: the seeds are built from constants, so any failure is a bug in the packer. */
static void must(int rc, const char *what) {
  if (rc == 0) return;
  fprintf(stderr, "gen_seeds: %s: %s (%s)\n", what, inb_strerror(rc), inb_errmsg());
  exit(1);
}

static inb_args *every_kind(void) {
  static const char bytes[] = {0, 'a', (char)0xff};
  const int64_t s3[] = {3}, s23[] = {2, 3};
  inb_args *a = inb_args_new();
  if (!a) must(INB_ENOMEM, "inb_args_new");
  must(inb_args_add(a, inb_none()), "none");
  must(inb_args_add(a, inb_bool(true)), "bool");
  must(inb_args_add(a, inb_int(-5)), "int");
  must(inb_args_add(a, inb_real(2.5)), "real");
  must(inb_args_add(a, inb_str("seed")), "str");
  must(inb_args_add(a, inb_bytes(bytes, sizeof bytes)), "bytes");
  must(inb_args_add(a, inb_arr(arr(INB_U8, 1, s3, u8_data))), "u8 array");
  must(inb_args_add(a, inb_arr(arr(INB_F64, 2, s23, f64_data))), "f64 array");
  must(inb_args_put(a, "name", inb_str("value")), "named str");
  must(inb_args_put(a, "count", inb_int(3)), "named int");
  must(inb_args_put(a, "flag", inb_bool(false)), "named bool");
  return a;
}

static inb_args *every_dtype(void) {
  const int64_t s0[] = {2, 0}, s8[] = {1, 1, 1, 1, 1, 1, 1, 2};
  inb_args *a = inb_args_new();
  if (!a) must(INB_ENOMEM, "inb_args_new");
  for (int t = INB_I8; t <= INB_F64; t++) { /* 16 bytes of data read as each dtype */
    const int64_t n[] = {(int64_t)(16 / inb_dtype_size((inb_dtype)t))};
    must(inb_args_add(a, inb_arr(arr((inb_dtype)t, 1, n, i64_data))), "dtype");
  }
  must(inb_args_put(a, "scalar", inb_arr(arr(INB_F64, 0, NULL, f64_data))), "0-dim");
  must(inb_args_put(a, "empty", inb_arr(arr(INB_I64, 2, s0, NULL))), "empty");
  must(inb_args_put(a, "deep", inb_arr(arr(INB_I64, 8, s8, i64_data))), "8-dim");
  return a;
}

/* One seed: a header and the records `fill` appends. */
typedef void (*fill_fn)(inb__buf *b, uint64_t *count);

static void fill_every_kind(inb__buf *b, uint64_t *count) {
  inb_args *a = every_kind();
  must(inb__wire_pack_args(b, a), "pack every kind");
  inb_args_free(&a);
  *count = 1;
}

static void fill_every_dtype(inb__buf *b, uint64_t *count) {
  inb_args *a = every_dtype();
  must(inb__wire_pack_args(b, a), "pack every dtype");
  inb_args_free(&a);
  *count = 1;
}

static void fill_results(inb__buf *b, uint64_t *count) {
  const int64_t s2[] = {2};
  const inb__wire_result rs[] = {
      {.task = 0, .ok = true, .value = inb_none()},
      {.task = 1, .ok = true, .value = inb_real(-1.5)},
      {.task = 2, .ok = true, .value = inb_str("ok")},
      {.task = 3, .ok = true, .value = inb_bytes(u8_data, 5)},
      {.task = 4, .ok = true, .value = inb_arr(arr(INB_I64, 1, s2, i64_data))},
      {.task = 5, .ok = true, .value = inb_bool(true)},
  };
  for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) must(inb__wire_pack_result(b, &rs[i]), "pack result");
  *count = sizeof rs / sizeof rs[0];
}

static void fill_failed(inb__buf *b, uint64_t *count) {
  const inb__wire_result rs[] = {
      {.task = 7, .error = {.rank = 1, .code = -6, .message = "NaN in input"}},
      {.task = 9, .error = {.rank = 3, .code = 2, .message = ""}},
      {.task = 12, .error = {.rank = 0, .code = INB_ECANCELED, .message = NULL}},
  };
  for (size_t i = 0; i < sizeof rs / sizeof rs[0]; i++) must(inb__wire_pack_result(b, &rs[i]), "pack error");
  *count = sizeof rs / sizeof rs[0];
}

static void fill_mixed(inb__buf *b, uint64_t *count) {
  inb_args *a = inb_args_new();
  if (!a) must(INB_ENOMEM, "inb_args_new");
  must(inb_args_add(a, inb_int(1042)), "index");
  must(inb__wire_pack_args(b, a), "pack index");
  must(inb__wire_pack_args(b, NULL), "pack empty");
  inb__wire_result ok = {.task = 1042, .ok = true, .value = inb_int(7)};
  inb__wire_result bad = {.task = 1043, .error = {.rank = 2, .code = -3, .message = "failed"}};
  must(inb__wire_pack_result(b, &ok), "pack ok");
  must(inb__wire_pack_result(b, &bad), "pack failed");
  inb_args_free(&a);
  *count = 4;
}

static void fill_nothing(inb__buf *b, uint64_t *count) {
  (void)b;
  *count = 0;
}

static const struct {
  const char *name;
  fill_fn fill;
} seeds[] = {
    {"args_every_kind", fill_every_kind}, {"args_every_dtype", fill_every_dtype},
    {"results_ok", fill_results},         {"results_failed", fill_failed},
    {"mixed", fill_mixed},                {"empty_message", fill_nothing},
};

int main(int argc, char **argv) {
  seed_corpus c = {.prog = "gen_seeds", .maker = "the packer"};
  int usage = seed_corpus_open(&c, argc, argv);
  if (usage) return usage;
  for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
    inb__buf b = {0};
    uint64_t count = 0;
    must(inb__wire_put_header(&b, 0), "header");
    seeds[s].fill(&b, &count);
    inb__wire_seal(&b, 0, count);
    seed_corpus_put(&c, seeds[s].name, b.p, b.n);
    inb__buf_release(&b);
  }
  return seed_corpus_close(&c);
}
