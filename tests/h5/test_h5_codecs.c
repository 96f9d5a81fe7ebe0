/* Compressed outputs (include/inbatch/h5.h, inb_h5_output_spec's codec, level, shuffle, blosc_compressor): LZ4,
 * Zstd and Blosc datasets written by every rank through inb_h5_run, under their registered filter ids and the
 * plugins' cd_values, read back bit for bit with the HDF5 C API here and with h5py and the usual plugins
 * (codecs_h5py.py, a subprocess of rank 0); files the plugins wrote read back through inb_h5_open; bad specs
 * refused naming the dataset; corrupt chunks fail the read instead of the process.
 *
 * The output holds four groups of one content each, every group a "plain" (uncompressed) dataset and one
 * dataset per codec variant: "smooth" float32 16x16 images (a flat border around a gradient, waves and noise),
 * "random" rows of 61
 * random bytes (incompressible), "odd" int16 3x5 rows in chunks of 7 (210-byte chunks: not a multiple of 4, 8 or
 * 16), "scalar" float64 scalars. 45 items in batches of 8: every kind of chunk spans batches, so chunks are read
 * back, decoded and written again by the collective writes. */
#include "h5test.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#ifndef CODECS_PY
#define CODECS_PY ""
#endif
#ifndef PYTHON3
#define PYTHON3 ""
#endif

static const char g_python[] = PYTHON3, g_script[] = CODECS_PY; /* "" when not found at configure time */

enum { N_ITEMS = 45, BATCH = 8 };
enum { LZ4_ID = 32004, ZSTD_ID = 32015, BLOSC_ID = 32001 };

/* ---- contents ------------------------------------------------------------------------------------------- */

typedef struct {
  const char *name;
  inb_dtype dtype;
  int ndim;
  int64_t shape[2];
  int64_t chunk_items;
  size_t per;      /* elements a row */
} kind_t;

static const kind_t g_kinds[] = {
    {"smooth", INB_F32, 2, {16, 16}, 5, 256},
    {"random", INB_U8, 1, {61}, 3, 61},
    {"odd", INB_I16, 2, {3, 5}, 7, 15},
    {"scalar", INB_F64, 0, {0}, 10, 1},
};
enum { N_KINDS = sizeof g_kinds / sizeof g_kinds[0] };

static uint64_t mix(uint64_t x) { /* splitmix64's finaliser: a reproducible hash of (item, element) */
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* Row i of kind k into row (per elements of its dtype). */
static void fill(const kind_t *k, int64_t i, void *row) {
  for (size_t e = 0; e < k->per; e++) {
    uint64_t h = mix((uint64_t)i << 20 | e);
    switch (k->dtype) {
    case INB_F32: { /* a flat border around waves on a gradient, with noise, in steps of 1/256 */
      int r = (int)(e / 16), c = (int)(e % 16);
      float x = (float)i + 0.05f * (float)r + sinf(0.4f * (float)c + 0.1f * (float)i) + 0.01f * (float)(h % 16);
      ((float *)row)[e] = r < 3 || r > 12 ? 0.0f : roundf(x * 256.0f) / 256.0f;
      break;
    }
    case INB_U8: ((uint8_t *)row)[e] = (uint8_t)h; break;
    case INB_I16: ((int16_t *)row)[e] = (int16_t)(i * 37 - (int64_t)e * 11 + (int64_t)(h % 3)); break;
    default: ((double *)row)[e] = (double)i * 0.1 + (double)(h % 8) * 1e-3; break;
    }
  }
}

/* ---- the codec variants ----------------------------------------------------------------------------------- */

typedef struct {
  const char *name;
  inb_h5_codec codec;
  int deflate, level;
  inb_h5_shuffle shuffle;
  inb_h5_blosc_compressor inner;
  /* what the file must say: the codec's filter id and cd_values (Blosc's first four depend on the kind),
   * and whether HDF5's shuffle filter comes first */
  int id;
  unsigned cd[7];
  size_t ncd;
  bool hdf5_shuffle;
} variant_t;

static const variant_t g_variants[] = {
    {"plain", INB_H5_NONE, 0, 0, 0, 0, 0, {0}, 0, false},
    {"deflate", INB_H5_NONE, 1, 0, 0, 0, H5Z_FILTER_DEFLATE, {1}, 1, false}, /* the `deflate` field */
    {"deflate_shuffle", INB_H5_DEFLATE, 0, 0, INB_H5_SHUFFLE_BYTE, 0, H5Z_FILTER_DEFLATE, {4}, 1, true},
    {"lz4", INB_H5_LZ4, 0, 0, 0, 0, LZ4_ID, {0}, 1, false},
    {"lz4_shuffle", INB_H5_LZ4, 0, 0, INB_H5_SHUFFLE_BYTE, 0, LZ4_ID, {0}, 1, true},
    {"zstd1", INB_H5_ZSTD, 0, 1, 0, 0, ZSTD_ID, {1}, 1, false},
    {"zstd", INB_H5_ZSTD, 0, 0, 0, 0, ZSTD_ID, {3}, 1, false},
    {"zstd22_shuffle", INB_H5_ZSTD, 0, 22, INB_H5_SHUFFLE_BYTE, 0, ZSTD_ID, {22}, 1, true},
    {"blosc", INB_H5_BLOSC, 0, 0, 0, 0, BLOSC_ID, {2, 2, 0, 0, 5, 1, 1}, 7, false},
    {"blosc_zstd_bit", INB_H5_BLOSC, 0, 9, INB_H5_SHUFFLE_BIT, INB_H5_BLOSC_ZSTD, BLOSC_ID, {2, 2, 0, 0, 9, 2, 5}, 7,
     false},
    {"blosc_blosclz_none", INB_H5_BLOSC, 0, 1, INB_H5_SHUFFLE_NONE, INB_H5_BLOSC_BLOSCLZ, BLOSC_ID,
     {2, 2, 0, 0, 1, 0, 0}, 7, false},
    {"blosc_lz4hc", INB_H5_BLOSC, 0, 3, 0, INB_H5_BLOSC_LZ4HC, BLOSC_ID, {2, 2, 0, 0, 3, 1, 2}, 7, false},
    {"blosc_zlib", INB_H5_BLOSC, 0, 3, 0, INB_H5_BLOSC_ZLIB, BLOSC_ID, {2, 2, 0, 0, 3, 1, 4}, 7, false},
};
enum { N_VARIANTS = sizeof g_variants / sizeof g_variants[0], N_OUTS = N_KINDS * N_VARIANTS };

static char g_names[N_OUTS][64]; /* "/<kind>/<variant>" */
static const char *out_name(size_t k, size_t v) { return g_names[k * N_VARIANTS + v]; }

static void make_specs(inb_h5_output_spec *s) {
  for (size_t k = 0; k < N_KINDS; k++)
    for (size_t v = 0; v < N_VARIANTS; v++) {
      const kind_t *kd = &g_kinds[k];
      const variant_t *va = &g_variants[v];
      snprintf(g_names[k * N_VARIANTS + v], sizeof g_names[0], "/%s/%s", kd->name, va->name);
      s[k * N_VARIANTS + v] = (inb_h5_output_spec){
          .name = out_name(k, v), .dtype = kd->dtype, .ndim = kd->ndim, .shape = {kd->shape[0], kd->shape[1]},
          .chunk_items = v ? kd->chunk_items : 0, .deflate = va->deflate, .codec = va->codec, .level = va->level,
          .shuffle = va->shuffle, .blosc_compressor = va->inner};
    }
}

/* init "items": every output row of the item, from its index. */
static int write_rows(inb_item *it, const inb_args *a, inb_value *result) {
  (void)result;
  const inb_value *iv = inb_args_get(a, "idx");
  if (!iv || iv->kind != INB_ARRAY || iv->u.a.dtype != INB_I64)
    return inb_fail(it, 90, "task %zu: no int64 argument 'idx'", inb_item_task(it));
  int64_t i = *(const int64_t *)iv->u.a.data;
  for (size_t k = 0; k < N_KINDS; k++)
    for (size_t v = 0; v < N_VARIANTS; v++) {
      inb_array *o = inb_item_output(it, out_name(k, v));
      if (!o || inb_array_count(o) != g_kinds[k].per)
        return inb_fail(it, 91, "item %lld: output '%s' %s", (long long)i, out_name(k, v),
                        o ? "of another size" : "missing");
      fill(&g_kinds[k], i, o->data);
    }
  return 0;
}

/* Creates `path` with the outputs, runs write_rows over N_ITEMS items on every rank, commits. */
static int write_file(const char *path, const inb_h5_output_spec *specs, size_t n, const char *what) {
  char input[PATH_MAX];
  if (h5t_index_input(input, "idx.h5", "/idx", N_ITEMS) != 0) return -1;
  const char *comps[] = {"/idx"};
  inb_h5_input *in = NULL;
  inb_h5_output *out = NULL;
  int rc = inb_h5_open(input, comps, 1, NULL, &in);
  expect_rc(rc, 0, "%s: inb_h5_open", what);
  if (!rc) rc = inb_h5_create(path, specs, n, N_ITEMS, true, NULL, &out);
  expect_rc(rc, 0, "%s: inb_h5_create", what);
  if (!rc) {
    inb_action act = {.name = "codec_rows", .fn = write_rows, .init = "items",
                      .target = g_size == 1 ? INB_THREADS : INB_MPI, .local = INB_THREADS};
    inb_h5_plan plan = {.batch_size = BATCH};
    inb_opts opts = {.n_workers = 2};
    rc = inb_h5_run(in, &plan, &act, NULL, &opts, out);
    expect_rc(rc, 0, "%s: inb_h5_run", what);
    if (rc) inb_h5_abort(&out);
    else expect_rc(rc = inb_h5_commit(&out), 0, "%s: inb_h5_commit", what);
  }
  inb_h5_close(&in);
  return rc;
}

/* ---- reading back with the HDF5 C API --------------------------------------------------------------------- */

static hid_t native(inb_dtype t) {
  return t == INB_F32 ? H5T_NATIVE_FLOAT : t == INB_U8 ? H5T_NATIVE_UINT8 : t == INB_I16 ? H5T_NATIVE_INT16
                                                                                         : H5T_NATIVE_DOUBLE;
}

/* The filters of dataset d against variant va of kind kd: ids, order and cd_values. */
static void check_filters(hid_t d, const kind_t *kd, const variant_t *va, const char *name) {
  hid_t dcpl = H5Dget_create_plist(d);
  int nf = H5Pget_nfilters(dcpl);
  expect_eq(nf, va->id ? 1 + va->hdf5_shuffle : 0, "%s: number of filters", name);
  if (va->hdf5_shuffle && nf > 0) {
    unsigned flags, cd[8];
    size_t ncd = 8;
    expect_eq(H5Pget_filter2(dcpl, 0, &flags, &ncd, cd, 0, NULL, NULL), H5Z_FILTER_SHUFFLE,
              "%s: HDF5's shuffle filter first", name);
  }
  if (va->id && nf > 0) {
    unsigned flags, cd[16] = {0};
    size_t ncd = 16;
    expect_eq(H5Pget_filter2(dcpl, (unsigned)nf - 1, &flags, &ncd, cd, 0, NULL, NULL), va->id,
              "%s: the codec's filter id, last", name);
    expect_eq((long)ncd, (long)va->ncd, "%s: number of cd_values", name);
    unsigned want[7];
    memcpy(want, va->cd, sizeof want);
    if (va->id == BLOSC_ID) { /* Blosc's type size and chunk bytes, filled in at creation */
      want[2] = (unsigned)inb_dtype_size(kd->dtype);
      want[3] = (unsigned)(kd->chunk_items * (int64_t)(kd->per * inb_dtype_size(kd->dtype)));
    }
    for (size_t j = 0; j < va->ncd && j < ncd; j++) expect_eq(cd[j], want[j], "%s: cd_values[%zu]", name, j);
  }
  H5Pclose(dcpl);
}

/* Rank 0: every dataset of `path` equals its rows bit for bit, carries its filters, and (smooth data) takes less
 * room than its rows, (random bytes) barely more. */
static void verify(const char *path, const char *what) {
  if (g_rank != 0) return;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  expect_eq(f >= 0, 1, "%s: open '%s'", what, path);
  for (size_t k = 0; f >= 0 && k < N_KINDS; k++) {
    const kind_t *kd = &g_kinds[k];
    size_t row = kd->per * inb_dtype_size(kd->dtype), bytes = row * N_ITEMS;
    uint8_t *want = malloc(bytes), *got = malloc(bytes);
    for (int64_t i = 0; i < N_ITEMS; i++) fill(kd, i, want + (size_t)i * row);
    for (size_t v = 0; v < N_VARIANTS; v++) {
      const char *name = out_name(k, v);
      hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
      expect_eq(d >= 0, 1, "%s: dataset '%s' exists", what, name);
      if (d < 0) continue;
      memset(got, 0xa5, bytes);
      expect_eq(H5Dread(d, native(kd->dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0, 1, "%s: read '%s'", what, name);
      size_t first = 0;
      while (first < bytes && got[first] == want[first]) first++;
      expect_eq((long)first, (long)bytes, "%s: '%s' equal to its rows bit for bit (the first byte that differs)", what,
                name);
      check_filters(d, kd, &g_variants[v], name);
      hsize_t stored = H5Dget_storage_size(d);
      if (v && strcmp(kd->name, "smooth") == 0)
        expect_eq(stored < bytes * 9 / 10, 1, "%s: '%s' compresses smooth data (%llu of %zu bytes)", what, name,
                  (unsigned long long)stored, bytes);
      if (v && strcmp(kd->name, "random") == 0) /* incompressible: stored about as they are */
        expect_eq(stored >= bytes * 98 / 100 && stored <= bytes * 115 / 100, 1,
                  "%s: '%s' keeps random bytes at about their size (%llu of %zu bytes)", what, name,
                  (unsigned long long)stored, bytes);
      H5Dclose(d);
    }
    free(want);
    free(got);
  }
  if (f >= 0) H5Fclose(f);
}

/* ---- h5py --------------------------------------------------------------------------------------------- */

/* Rank 0 runs codecs_h5py.py MODE FILE; every rank gets its exit status (77: a module or plugin is missing). */
static int run_python(const char *mode, const char *path) {
  int code = 77;
  if (g_rank == 0 && g_python[0] && g_script[0]) {
    char log[PATH_MAX], cmd[4 * PATH_MAX];
    h5t_path(log, "python.log");
    snprintf(cmd, sizeof cmd, "'%s' '%s' %s '%s' > '%s' 2>&1 < /dev/null", g_python, g_script, mode, path, log);
    int st = system(cmd);
    code = st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    FILE *f = fopen(log, "r");
    char line[512];
    int lines = 0;
    /* what it read, and how: shown when it fails, and its summary always */
    while (f && fgets(line, sizeof line, f) && lines++ < 80)
      if (code != 0 || strstr(line, "codecs_h5py")) print_message("    %s", line);
    if (f) fclose(f);
    remove(log);
  }
  return rank0_int(code);
}

static void test_every_codec_written_by_every_rank_reads_back_bit_for_bit_with_its_filter_and_cd_values(void **state) {
  (void)state;
  reset_checks();
  char path[PATH_MAX], what[64];
  h5t_path(path, "codecs.h5");
  snprintf(what, sizeof what, "%d rank%s", g_size, g_size == 1 ? "" : "s");
  static inb_h5_output_spec specs[N_OUTS];
  make_specs(specs);
  if (write_file(path, specs, N_OUTS, what) == 0) verify(path, what);
  assert_checks();
}

static void test_a_file_written_by_every_rank_reads_back_in_h5py_with_the_usual_plugins(void **state) {
  (void)state;
  reset_checks();
  char path[PATH_MAX], what[64];
  h5t_path(path, "codecs_py.h5");
  snprintf(what, sizeof what, "%d rank%s, for h5py", g_size, g_size == 1 ? "" : "s");
  static inb_h5_output_spec specs[N_OUTS];
  make_specs(specs);
  int rc = write_file(path, specs, N_OUTS, what);
  int code = rc == 0 ? run_python("check", path) : -1;
  if (code == 77) {
    print_message("  skipped: /usr/bin/python3 lacks h5py, hdf5plugin, zstandard or the LZ4/Blosc plugins (Debian: "
                  "python3-hdf5plugin hdf5-filter-plugin hdf5-filter-plugin-blosc-serial python3-zstandard)\n");
    skip();
  }
  if (rc == 0) expect_eq(code, 0, "%s: codecs_h5py.py check '%s' (every dataset equal to plain)", what, path);
  assert_checks();
}

/* ---- the plugins' files, read here ------------------------------------------------------------------------- */

static void test_files_the_plugins_wrote_read_back_through_inb_h5_open(void **state) {
  (void)state;
  reset_checks();
  char path[PATH_MAX];
  h5t_path(path, "plugins.h5");
  int code = run_python("write", path);
  if (code == 77) {
    print_message("  skipped: /usr/bin/python3 lacks h5py, zstandard or the LZ4/Blosc plugins\n");
    skip();
  }
  expect_eq(code, 0, "codecs_h5py.py write '%s'", path);
  expect_rc(inb_h5_register_codecs(), 0, "inb_h5_register_codecs");
  static const char *const codecs[] = {"lz4", "blosc_lz4_shuffle", "blosc_zstd_bitshuffle", "blosc_blosclz", "zstd"};
  enum { N_CODECS = sizeof codecs / sizeof codecs[0] };
  char names[2 * (N_CODECS + 1)][48];
  const char *comps[2 * (N_CODECS + 1)];
  size_t nc = 0;
  for (int t = 0; t < 2; t++) {
    const char *tag = t ? "u8" : "f64";
    snprintf(names[nc], sizeof names[0], "/plain_%s", tag), comps[nc] = names[nc], nc++;
    for (size_t c = 0; c < N_CODECS; c++)
      snprintf(names[nc], sizeof names[0], "/%s_%s", codecs[c], tag), comps[nc] = names[nc], nc++;
  }
  inb_h5_input *in = NULL;
  int rc = code == 0 ? inb_h5_open(path, comps, nc, NULL, &in) : -1;
  if (code == 0) expect_rc(rc, 0, "inb_h5_open of the plugins' file");
  /* every item, and a few in another order (chunks decoded again, rows picked out of them) */
  const int64_t some[] = {52, 0, 13, 7, 6, 44, 45, 1};
  for (int pass = 0; !rc && pass < 2; pass++) {
    inb_batch *b = NULL;
    size_t n = pass ? sizeof some / sizeof some[0] : (size_t)inb_h5_length(in);
    int r = inb_h5_read(in, pass ? some : NULL, n, &b);
    expect_rc(r, 0, "inb_h5_read (%s)", pass ? "some items" : "every item");
    for (size_t j = 0; !r && j < nc; j++) {
      size_t plain = j < N_CODECS + 1 ? 0 : N_CODECS + 1;
      if (j == plain) continue;
      inb_array *a = inb_batch_get(b, comps[j] + 1), *p = inb_batch_get(b, comps[plain] + 1);
      size_t bytes = p ? inb_array_count(p) * inb_dtype_size(p->dtype) : 0;
      expect_eq(a && p && a->dtype == p->dtype && inb_array_count(a) == inb_array_count(p) && bytes &&
                    memcmp(a->data, p->data, bytes) == 0,
                1, "'%s' equals '%s' (%s)", comps[j], comps[plain], pass ? "some items" : "every item");
    }
    inb_batch_free(&b);
  }
  inb_h5_close(&in);
  assert_checks();
}

/* ---- bad specs ------------------------------------------------------------------------------------------- */

static void test_bad_compression_fields_are_einval_naming_the_dataset_and_leave_nothing(void **state) {
  (void)state;
  reset_checks();
  char path[PATH_MAX];
  h5t_path(path, "bad.h5");
  const inb_h5_output_spec ok = {.name = "/fine", .dtype = INB_F32, .ndim = 1, .shape = {8}, .chunk_items = 4,
                                 .codec = INB_H5_ZSTD};
#define BAD(...) {.name = "/bad", .dtype = INB_F32, .ndim = 1, .shape = {8}, .chunk_items = 4, __VA_ARGS__}
  const struct {
    const char *needle;
    inb_h5_output_spec s;
  } bad[] = {
      {"lz4 has no levels", BAD(.codec = INB_H5_LZ4, .level = 1)},
      {"zstd levels are 1..22", BAD(.codec = INB_H5_ZSTD, .level = 23)},
      {"zstd levels are 1..22", BAD(.codec = INB_H5_ZSTD, .level = -1)},
      {"blosc levels are 1..9", BAD(.codec = INB_H5_BLOSC, .level = 10)},
      {"deflate levels are 1..9", BAD(.codec = INB_H5_DEFLATE, .level = 10)},
      {"deflate must be 0..9", BAD(.deflate = 10)},
      {"not both", BAD(.deflate = 1, .codec = INB_H5_ZSTD)},
      {"not both", BAD(.deflate = 1, .level = 2)},
      {"without a codec", BAD(.level = 3)},
      {"codec must be one of", BAD(.codec = (inb_h5_codec)9)},
      {"needs chunk_items > 0", {.name = "/bad", .dtype = INB_F32, .ndim = 1, .shape = {8}, .codec = INB_H5_LZ4}},
      {"needs chunk_items > 0", {.name = "/bad", .dtype = INB_F32, .ndim = 1, .shape = {8}, .codec = INB_H5_BLOSC}},
      {"bit shuffle is Blosc's", BAD(.codec = INB_H5_ZSTD, .shuffle = INB_H5_SHUFFLE_BIT)},
      {"without a codec", BAD(.shuffle = INB_H5_SHUFFLE_BYTE)},
      {"shuffle must be one of", BAD(.codec = INB_H5_LZ4, .shuffle = (inb_h5_shuffle)7)},
      {"Blosc's inner compressor", BAD(.codec = INB_H5_LZ4, .blosc_compressor = INB_H5_BLOSC_ZSTD)},
      {"blosc_compressor must be one of", BAD(.codec = INB_H5_BLOSC, .blosc_compressor = (inb_h5_blosc_compressor)9)},
      /* 300 rows of 8 MiB: a 2.4 GiB chunk */
      {"over Blosc's limit", {.name = "/bad", .dtype = INB_F64, .ndim = 1, .shape = {1 << 20}, .chunk_items = 300,
                              .codec = INB_H5_BLOSC}},
  };
#undef BAD
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    inb_h5_output_spec two[2] = {ok, bad[k].s};
    int before = h5t_count_entries();
    inb_h5_output *o = NULL;
    int rc = inb_h5_create(path, two, 2, 1000, false, NULL, &o);
    expect_rc(rc, INB_EINVAL, "bad spec %zu (%s): inb_h5_create", k, bad[k].needle);
    expect_errmsg_has("'/bad'", "bad spec %zu: the message names the dataset", k);
    expect_errmsg_has(bad[k].needle, "bad spec %zu: the message says what is wrong", k);
    expect_eq(max_ranks(rc), -max_ranks(-rc), "bad spec %zu: the same status on every rank", k);
    if (o) inb_h5_abort(&o);
    expect_eq(h5t_count_entries(), before, "bad spec %zu: nothing new in the directory", k);
  }
  assert_checks();
}

static void test_ranks_that_ask_for_different_compression_fail_together(void **state) {
  (void)state;
  reset_checks();
  if (g_size == 1) {
    print_message("  skipped: needs 2 ranks or more\n");
    skip();
  }
  char path[PATH_MAX];
  h5t_path(path, "differ.h5");
  inb_h5_output_spec s = {.name = "/y", .dtype = INB_F32, .ndim = 1, .shape = {8}, .chunk_items = 4,
                          .codec = INB_H5_ZSTD, .level = g_rank == 1 ? 2 : 1};
  inb_h5_output *o = NULL;
  int rc = inb_h5_create(path, &s, 1, 10, false, NULL, &o);
  expect_rc(rc, INB_EINVAL, "zstd level 1 on rank 0, 2 on rank 1: inb_h5_create");
  expect_eq(max_ranks(rc), -max_ranks(-rc), "the same status on every rank");
  if (o) inb_h5_abort(&o);
  assert_checks();
}

/* ---- corrupt chunks ------------------------------------------------------------------------------------- */

/* Rank 0, a file of its own: a dataset of one chunk per codec, written through the filter; its stored chunk then
 * replaced by damaged copies. Each read of a truncated chunk fails; no damage crashes or overruns (the
 * sanitizer builds check the latter). */
static void test_a_corrupt_chunk_fails_the_read_and_nothing_else(void **state) {
  (void)state;
  reset_checks();
  if (g_rank == 0) {
    expect_rc(inb_h5_register_codecs(), 0, "inb_h5_register_codecs");
    char path[PATH_MAX];
    h5t_path(path, "corrupt.h5");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const struct {
      int id;
      unsigned cd[7];
      size_t ncd;
    } fl[] = {{LZ4_ID, {0}, 1}, {LZ4_ID, {100}, 1}, {ZSTD_ID, {3}, 1}, {BLOSC_ID, {0, 0, 0, 0, 5, 1, 1}, 7}};
    enum { ROWS = 64, COLS = 32 };
    static float data[ROWS][COLS], back[ROWS][COLS];
    for (int r = 0; r < ROWS; r++)
      for (int c = 0; c < COLS; c++) data[r][c] = (float)(r + c % 5) + (float)(mix((uint64_t)(r * COLS + c)) % 7);
    for (size_t k = 0; f >= 0 && k < sizeof fl / sizeof fl[0]; k++) {
      char name[32];
      snprintf(name, sizeof name, "/d%zu", k);
      hsize_t dims[2] = {ROWS, COLS}, off[2] = {0, 0};
      hid_t space = H5Screate_simple(2, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE),
            dapl = H5Pcreate(H5P_DATASET_ACCESS);
      H5Pset_chunk(dcpl, 2, dims);
      H5Pset_filter(dcpl, (H5Z_filter_t)fl[k].id, H5Z_FLAG_MANDATORY, fl[k].ncd, fl[k].cd);
      H5Pset_chunk_cache(dapl, 0, 0, 1.0); /* no cache: every read decodes the stored chunk */
      hid_t d = H5Dcreate2(f, name, H5T_NATIVE_FLOAT, space, H5P_DEFAULT, dcpl, dapl);
      herr_t w = H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
      expect_eq(d >= 0 && w >= 0, 1, "filter %d (cd[0] %u): create and write", fl[k].id, fl[k].cd[0]);
      hsize_t size = 0;
      H5Dget_chunk_storage_size(d, off, &size);
      uint8_t *good = malloc(size + 1), *bad = malloc(size + 64);
      uint32_t mask = 0;
      expect_eq(size > 0 && H5Dread_chunk(d, H5P_DEFAULT, off, &mask, good) >= 0, 1, "filter %d: read the chunk",
                fl[k].id);
      memset(back, 0, sizeof back);
      expect_eq(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, back) >= 0 &&
                    memcmp(back, data, sizeof data) == 0,
                1, "filter %d (cd[0] %u): the intact chunk reads back", fl[k].id, fl[k].cd[0]);
      /* damages: 0 half the chunk, 1 three bytes, 2 a byte flipped in each 16, 3 the sizes' bytes all 0xff */
      for (int dmg = 0; size > 0 && dmg < 4; dmg++) {
        size_t n = dmg == 0 ? size / 2 : dmg == 1 ? 3 : size;
        memcpy(bad, good, size);
        if (dmg == 2)
          for (size_t j = 5; j < n; j += 16) bad[j] ^= 0x5a;
        if (dmg == 3) memset(bad, 0xff, n < 16 ? n : 16);
        herr_t wr = H5Dwrite_chunk(d, H5P_DEFAULT, 0, off, n, bad);
        herr_t rd = wr < 0 ? 0 : H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, back);
        expect_eq(wr >= 0, 1, "filter %d: damage %d written", fl[k].id, dmg);
        if (dmg == 0 || dmg == 1 || dmg == 3)
          expect_eq(rd < 0, 1, "filter %d (cd[0] %u): damage %d fails the read", fl[k].id, fl[k].cd[0], dmg);
      }
      free(good);
      free(bad);
      H5Dclose(d);
      H5Pclose(dapl);
      H5Pclose(dcpl);
      H5Sclose(space);
    }
    if (f >= 0) H5Fclose(f);
    remove(path);
  }
  assert_checks();
}

int main(int argc, char **argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_codec_written_by_every_rank_reads_back_bit_for_bit_with_its_filter_and_cd_values),
      cmocka_unit_test(test_a_file_written_by_every_rank_reads_back_in_h5py_with_the_usual_plugins),
      cmocka_unit_test(test_files_the_plugins_wrote_read_back_through_inb_h5_open),
      cmocka_unit_test(test_bad_compression_fields_are_einval_naming_the_dataset_and_leave_nothing),
      cmocka_unit_test(test_ranks_that_ask_for_different_compression_fail_together),
      cmocka_unit_test(test_a_corrupt_chunk_fails_the_read_and_nothing_else),
  };
  return h5t_main(argc, argv, "h5.test_h5_codecs", tests, sizeof tests / sizeof tests[0]);
}
