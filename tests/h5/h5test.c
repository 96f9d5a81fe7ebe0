/* What the HDF5 tests share (see h5test.h). */
#define _GNU_SOURCE /* nftw */
#include "h5test.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- scratch directory and files ---------------------------------------------------------------------- */

static char g_dir[256];

const char *h5t_dir(void) { return g_dir; }

char *h5t_path(char *buf, const char *name) {
  snprintf(buf, PATH_MAX, "%s/%s", g_dir, name);
  return buf;
}

/* "<dir>/.<base>.inbatch-<what>" for the output `path`. */
static char *hidden(char *buf, const char *path, const char *what) {
  const char *slash = strrchr(path, '/');
  if (!slash) snprintf(buf, PATH_MAX, "./.%s.inbatch-%s", path, what);
  else snprintf(buf, PATH_MAX, "%.*s/.%s.inbatch-%s", (int)(slash - path), path, slash + 1, what);
  return buf;
}

char *h5t_partial(char *buf, const char *path) { return hidden(buf, path, "partial"); }
char *h5t_side_file(char *buf, const char *path) { return hidden(buf, path, "errors"); }

bool h5t_exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

long h5t_seen_anywhere(const char *path) {
  MPI_Barrier(MPI_COMM_WORLD);
  return max_ranks(h5t_exists(path));
}

void h5t_remove(const char *path) {
  MPI_Barrier(MPI_COMM_WORLD);
  if (g_rank == 0) remove(path);
  MPI_Barrier(MPI_COMM_WORLD);
}

int h5t_count_entries(void) {
  MPI_Barrier(MPI_COMM_WORLD); /* every rank's earlier steps are done ... */
  DIR *d = opendir(g_dir);
  int n = d ? 0 : -1;
  for (struct dirent *e; d && (e = readdir(d));)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
  if (d) closedir(d);
  MPI_Barrier(MPI_COMM_WORLD); /* ... and no rank goes on to change the directory while another counts */
  return n;
}

const char *h5t_list_entries(char *buf, size_t cap) {
  buf[0] = '\0';
  DIR *d = opendir(g_dir);
  size_t used = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 && used < cap)
      used += (size_t)snprintf(buf + used, cap - used, "%s%s", used ? " " : "", e->d_name);
  if (d) closedir(d);
  return buf;
}

int h5t_write_text(const char *path, const char *text) {
  int ok = 1;
  if (g_rank == 0) {
    FILE *f = fopen(path, "w");
    ok = f && fputs(text, f) >= 0;
    if (f && fclose(f) != 0) ok = 0;
  }
  MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return ok ? 0 : -1;
}

const char *h5t_read_text(const char *path, char *buf, size_t cap) {
  buf[0] = '\0';
  FILE *f = fopen(path, "r");
  if (!f) return buf;
  size_t n = fread(buf, 1, cap - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  remove(path);
  return 0;
}

void h5t_remove_tree(const char *path) {
  if (h5t_exists(path)) nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the items' values ---------------------------------------------------------------------------------- */

const inb_dtype h5t_types[H5T_NTYPES] = {INB_F32, INB_F64, INB_I32, INB_U8};
const char *const h5t_type_names[H5T_NTYPES] = {"f32", "f64", "i32", "u8"};

hid_t h5t_file_type(inb_dtype t) {
  switch (t) {
  case INB_F32: return H5T_IEEE_F32LE;
  case INB_F64: return H5T_IEEE_F64LE;
  case INB_I32: return H5T_STD_I32LE;
  case INB_U8: return H5T_STD_U8LE;
  default: return H5I_INVALID_HID;
  }
}

static hid_t mem_type(inb_dtype t) {
  switch (t) {
  case INB_F32: return H5T_NATIVE_FLOAT;
  case INB_F64: return H5T_NATIVE_DOUBLE;
  case INB_I32: return H5T_NATIVE_INT32;
  case INB_U8: return H5T_NATIVE_UINT8;
  case INB_I64: return H5T_NATIVE_INT64;
  default: return H5I_INVALID_HID;
  }
}

double h5t_value(int comp, int64_t i, size_t e, inb_dtype t) {
  int base = (int)((i * 7 + (int64_t)e * 3 + comp * 5) % 100);
  switch (t) {
  case INB_U8: return base;
  case INB_I32: return base - 50;
  case INB_F32: return (base - 50) * 0.25;
  default: return (base - 50) * 0.125;
  }
}

double h5t_get(const void *data, inb_dtype t, size_t e) {
  switch (t) {
  case INB_I8: return ((const int8_t *)data)[e];
  case INB_U8: return ((const uint8_t *)data)[e];
  case INB_I16: return ((const int16_t *)data)[e];
  case INB_U16: return ((const uint16_t *)data)[e];
  case INB_I32: return ((const int32_t *)data)[e];
  case INB_U32: return ((const uint32_t *)data)[e];
  case INB_I64: return (double)((const int64_t *)data)[e];
  case INB_U64: return (double)((const uint64_t *)data)[e];
  case INB_F32: return ((const float *)data)[e];
  case INB_F64: return ((const double *)data)[e];
  }
  return 0;
}

void h5t_set(void *data, inb_dtype t, size_t e, double v) {
  switch (t) {
  case INB_I8: ((int8_t *)data)[e] = (int8_t)v; break;
  case INB_U8: ((uint8_t *)data)[e] = (uint8_t)v; break;
  case INB_I16: ((int16_t *)data)[e] = (int16_t)v; break;
  case INB_U16: ((uint16_t *)data)[e] = (uint16_t)v; break;
  case INB_I32: ((int32_t *)data)[e] = (int32_t)v; break;
  case INB_U32: ((uint32_t *)data)[e] = (uint32_t)v; break;
  case INB_I64: ((int64_t *)data)[e] = (int64_t)v; break;
  case INB_U64: ((uint64_t *)data)[e] = (uint64_t)v; break;
  case INB_F32: ((float *)data)[e] = (float)v; break;
  case INB_F64: ((double *)data)[e] = v; break;
  }
}

static int write_dataset(hid_t file, const char *name, hid_t ftype, hid_t mtype, int ndim, const hsize_t *dims,
                         const void *data) {
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t space = H5Screate_simple(ndim, dims, NULL);
  hid_t d = H5Dcreate2(file, name, ftype, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  herr_t h = d < 0 ? -1 : H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  if (d >= 0) H5Dclose(d);
  H5Sclose(space);
  H5Pclose(lcpl);
  return h < 0 ? -1 : 0;
}

int h5t_write_values(hid_t file, const char *name, inb_dtype t, int64_t n, int item_ndim, const int64_t *item,
                     int comp) {
  hsize_t dims[INB_MAX_DIMS] = {(hsize_t)n};
  size_t per = 1;
  for (int d = 0; d < item_ndim; d++) dims[d + 1] = (hsize_t)item[d], per *= (size_t)item[d];
  void *buf = malloc((size_t)n * per * inb_dtype_size(t) + 1);
  if (!buf) return -1;
  for (int64_t i = 0; i < n; i++)
    for (size_t e = 0; e < per; e++) h5t_set(buf, t, (size_t)i * per + e, h5t_value(comp, i, e, t));
  int rc = write_dataset(file, name, h5t_file_type(t), mem_type(t), item_ndim + 1, dims, buf);
  free(buf);
  return rc;
}

int h5t_write_index(hid_t file, const char *name, int64_t n) {
  int64_t *buf = malloc((size_t)n * sizeof *buf + 1);
  if (!buf) return -1;
  for (int64_t i = 0; i < n; i++) buf[i] = i;
  hsize_t dims[1] = {(hsize_t)n};
  int rc = write_dataset(file, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 1, dims, buf);
  free(buf);
  return rc;
}

int h5t_index_input(char *path, const char *name, const char *dataset, int64_t n) {
  h5t_path(path, name);
  int ok = 1;
  if (g_rank == 0 && !h5t_exists(path)) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ok = f >= 0 && h5t_write_index(f, dataset, n) == 0;
    if (f >= 0 && H5Fclose(f) < 0) ok = 0;
  }
  return rank0_int(ok) ? 0 : -1; /* the other ranks wait here until the file is written */
}

const char *h5t_idx_x_input(char *path, const char *name, int64_t n, int64_t per) {
  h5t_path(path, name);
  int ok = 1;
  if (g_rank == 0 && !h5t_exists(path)) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    const int64_t item[1] = {per};
    ok = f >= 0 && h5t_write_index(f, "/idx", n) == 0 && h5t_write_values(f, "/x", INB_F64, n, 1, item, 0) == 0;
    if (f >= 0 && H5Fclose(f) < 0) ok = 0;
  }
  expect_eq(rank0_int(ok), 1, "writing the input '%s'", path);
  return path;
}

/* ---- the results of a run ------------------------------------------------------------------------------ */

/* A member of a compound type in memory. */
typedef struct {
  const char *name;
  size_t offset;
  hid_t type;
} member;

/* The compound type of `size` bytes with the n members m[]. */
static hid_t compound_type(size_t size, const member *m, size_t n) {
  hid_t t = H5Tcreate(H5T_COMPOUND, size);
  for (size_t k = 0; k < n; k++) H5Tinsert(t, m[k].name, m[k].offset, m[k].type);
  return t;
}

static hid_t result_type(void) {
  hid_t st = H5Tenum_create(H5T_NATIVE_INT);
  const int values[] = {INB_H5_NOT_RUN, INB_H5_DONE, INB_H5_FAILED};
  H5Tenum_insert(st, "not_run", &values[0]);
  H5Tenum_insert(st, "done", &values[1]);
  H5Tenum_insert(st, "failed", &values[2]);
  const member m[] = {{"index", HOFFSET(h5t_result, index), H5T_NATIVE_INT64},
                      {"state", HOFFSET(h5t_result, state), st},
                      {"code", HOFFSET(h5t_result, code), H5T_NATIVE_INT},
                      {"value", HOFFSET(h5t_result, value), H5T_NATIVE_DOUBLE}};
  hid_t t = compound_type(sizeof(h5t_result), m, sizeof m / sizeof m[0]);
  H5Tclose(st);
  return t;
}

static hid_t error_type(void) {
  hid_t s = H5Tcopy(H5T_C_S1);
  H5Tset_size(s, sizeof(((h5t_error *)0)->message));
  H5Tset_strpad(s, H5T_STR_NULLTERM);
  const member m[] = {{"index", HOFFSET(h5t_error, index), H5T_NATIVE_INT64},
                      {"code", HOFFSET(h5t_error, code), H5T_NATIVE_INT},
                      {"rank", HOFFSET(h5t_error, rank), H5T_NATIVE_INT},
                      {"message", HOFFSET(h5t_error, message), s}};
  hid_t t = compound_type(sizeof(h5t_error), m, sizeof m / sizeof m[0]);
  H5Tclose(s);
  return t;
}

/* Reads dataset `name` (1-D) of f whole with memory type `type`: *rows rows of `size` bytes into *buf (malloc'd
 * unless want_n >= 0, then into the caller's *buf, which must hold want_n rows). */
static int read_1d(hid_t f, const char *name, hid_t type, size_t size, long want_n, void **buf, size_t *rows) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  if (d < 0) return -1;
  hid_t space = H5Dget_space(d);
  hsize_t dims[1] = {0};
  int ok = H5Sget_simple_extent_ndims(space) == 1 && H5Sget_simple_extent_dims(space, dims, NULL) == 1 &&
           (want_n < 0 || dims[0] == (hsize_t)want_n);
  if (ok && want_n < 0) *buf = calloc((size_t)dims[0] + 1, size);
  ok = ok && *buf && (dims[0] == 0 || H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, *buf) >= 0);
  *rows = (size_t)dims[0];
  H5Sclose(space);
  H5Dclose(d);
  return ok ? 0 : -1;
}

int h5t_read_table(hid_t f, h5t_result *rows, size_t n) {
  hid_t t = result_type();
  void *buf = rows;
  size_t got = 0;
  int rc = read_1d(f, "/inbatch_results", t, sizeof *rows, (long)n, &buf, &got);
  H5Tclose(t);
  return rc;
}

int h5t_read_errors(hid_t f, h5t_error **out, size_t *n) {
  hid_t t = error_type();
  void *buf = NULL;
  int rc = read_1d(f, "/inbatch_errors", t, sizeof **out, -1, &buf, n);
  H5Tclose(t);
  if (rc) {
    free(buf);
    buf = NULL;
    *n = 0;
  }
  *out = buf;
  return rc;
}

/* Dataset `name` of f whole as float64: its element count into *n; malloc'd (the caller frees), NULL when it is
 * missing or does not read. */
static double *read_doubles(hid_t f, const char *name, size_t *n) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  hid_t space = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
  hssize_t count = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
  double *buf = count >= 0 ? calloc((size_t)count + 1, sizeof *buf) : NULL;
  if (buf && count && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
    free(buf);
    buf = NULL;
  }
  if (space >= 0) H5Sclose(space);
  if (d >= 0) H5Dclose(d);
  *n = count > 0 ? (size_t)count : 0;
  return buf;
}

static bool same_double(double x, double y) { return x == y || (isnan(x) && isnan(y)); }

/* The first difference between open files fa and fb into why; 0 when none. */
static int compare_open(hid_t fa, hid_t fb, const char *const *datasets, size_t n, char *why, size_t cap) {
  for (size_t k = 0; k < n; k++) {
    size_t na = 0, nb = 0;
    double *a = read_doubles(fa, datasets[k], &na), *b = read_doubles(fb, datasets[k], &nb);
    size_t bad = a && b && na == nb ? na : 0;
    for (size_t i = 0; a && b && na == nb && i < na && bad == na; i++)
      if (!same_double(a[i], b[i])) bad = i;
    if (!a || !b || na != nb)
      snprintf(why, cap, "dataset '%s': missing, or %zu elements against %zu", datasets[k], na, nb);
    else if (bad < na) snprintf(why, cap, "dataset '%s' element %zu: %g against %g", datasets[k], bad, a[bad], b[bad]);
    free(a);
    free(b);
    if (!a || !b || na != nb || bad < na) return -1;
  }
  size_t na = 0, nb = 0;
  hid_t da = H5Dopen2(fa, "/inbatch_results", H5P_DEFAULT), db = H5Dopen2(fb, "/inbatch_results", H5P_DEFAULT);
  hid_t sa = da >= 0 ? H5Dget_space(da) : H5I_INVALID_HID, sb = db >= 0 ? H5Dget_space(db) : H5I_INVALID_HID;
  na = sa >= 0 ? (size_t)H5Sget_simple_extent_npoints(sa) : 0;
  nb = sb >= 0 ? (size_t)H5Sget_simple_extent_npoints(sb) : 0;
  if (sa >= 0) H5Sclose(sa);
  if (sb >= 0) H5Sclose(sb);
  if (da >= 0) H5Dclose(da);
  if (db >= 0) H5Dclose(db);
  h5t_result *ra = calloc(na + 1, sizeof *ra), *rb = calloc(nb + 1, sizeof *rb);
  int rc = 0;
  if (!ra || !rb || na != nb || h5t_read_table(fa, ra, na) || h5t_read_table(fb, rb, nb)) {
    snprintf(why, cap, "the results tables: missing, or %zu rows against %zu", na, nb);
    rc = -1;
  }
  for (size_t i = 0; !rc && i < na; i++)
    if (ra[i].index != rb[i].index || ra[i].state != rb[i].state || ra[i].code != rb[i].code ||
        !same_double(ra[i].value, rb[i].value)) {
      snprintf(why, cap, "table row %zu: index %lld state %d code %d value %g against index %lld state %d code %d "
               "value %g", i, (long long)ra[i].index, ra[i].state, ra[i].code, ra[i].value, (long long)rb[i].index,
               rb[i].state, rb[i].code, rb[i].value);
      rc = -1;
    }
  free(ra);
  free(rb);
  h5t_error *ea = NULL, *eb = NULL;
  size_t ma = 0, mb = 0;
  if (!rc && (h5t_read_errors(fa, &ea, &ma) || h5t_read_errors(fb, &eb, &mb) || ma != mb)) {
    snprintf(why, cap, "/inbatch_errors: missing, or %zu records against %zu", ma, mb);
    rc = -1;
  }
  for (size_t i = 0; !rc && i < ma; i++)
    if (ea[i].index != eb[i].index || ea[i].code != eb[i].code || strcmp(ea[i].message, eb[i].message) != 0) {
      snprintf(why, cap, "/inbatch_errors record %zu: item %lld code %d '%s' against item %lld code %d '%s'", i,
               (long long)ea[i].index, ea[i].code, ea[i].message, (long long)eb[i].index, eb[i].code, eb[i].message);
      rc = -1;
    }
  free(ea);
  free(eb);
  return rc;
}

int h5t_same_outputs(const char *a, const char *b, const char *const *datasets, size_t n, char *why, size_t cap) {
  why[0] = '\0';
  hid_t fa = H5Fopen(a, H5F_ACC_RDONLY, H5P_DEFAULT), fb = H5Fopen(b, H5F_ACC_RDONLY, H5P_DEFAULT);
  int rc = fa < 0 || fb < 0 ? (snprintf(why, cap, "'%s' or '%s' does not open", a, b), -1)
                            : compare_open(fa, fb, datasets, n, why, cap);
  if (fa >= 0) H5Fclose(fa);
  if (fb >= 0) H5Fclose(fb);
  return rc;
}

/* ---- main ---------------------------------------------------------------------------------------------- */

/* Rank 0 makes the directory and every rank learns its name; false (on every rank) when it could not. */
static bool make_scratch_dir(const char *group) {
  if (g_rank == 0) {
    snprintf(g_dir, sizeof g_dir, "/tmp/inb-%s-XXXXXX", group);
    if (!mkdtemp(g_dir)) {
      fprintf(stderr, "mkdtemp %s: %s\n", g_dir, strerror(errno));
      g_dir[0] = '\0';
    }
  }
  MPI_Bcast(g_dir, sizeof g_dir, MPI_CHAR, 0, MPI_COMM_WORLD);
  return g_dir[0] != '\0';
}

int h5t_main(int argc, char **argv, const char *group, const struct CMUnitTest *tests, size_t n) {
  if (start_ranks(&argc, &argv) != 0) return 1;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the tests' own HDF5 calls report through their checks */
  if (!make_scratch_dir(group)) {
    inb_mpi_finalize();
    return 1;
  }
  /* stdout only: see h5t_main in h5test.h */
  int status = run_group(group, tests, n, QUIET_STDOUT);
  if (g_rank == 0) h5t_remove_tree(g_dir);
  inb_mpi_finalize();
  return status;
}
