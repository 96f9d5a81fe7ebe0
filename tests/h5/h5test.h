/* What the HDF5 tests share beyond tests/common (ranks, collective helpers, the deferred checks, whose pattern
 * checks.h explains): a scratch directory per program, input files written with the HDF5 C API, the values they
 * hold, and main().
 *
 * Every test is collective: all ranks make the same inb_h5_* calls. */
#ifndef INB_TESTS_H5TEST_H
#define INB_TESTS_H5TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <hdf5.h>
#include <inbatch.h>
#include <mpi.h>

#include <stdbool.h>

#include "checks.h"
#include "collective.h"
#include "runner.h"

/* ---- scratch directory and files ---------------------------------------------------------------------- */

/* The program's scratch directory (mkdtemp on rank 0, broadcast), made by h5t_main; the harness's string. */
const char *h5t_dir(void);
/* "<dir>/<name>" into buf (PATH_MAX bytes); returns buf. */
char *h5t_path(char *buf, const char *name);
/* "<dir>/.<base>.inbatch-partial" for the output `path`, into buf (PATH_MAX bytes); returns buf. */
char *h5t_partial(char *buf, const char *path);
/* "<dir>/.<base>.inbatch-errors", a resumable output's side file of failure records, into buf (PATH_MAX bytes). */
char *h5t_side_file(char *buf, const char *path);
bool h5t_exists(const char *path);
/* Collective: whether any rank sees `path` (after a barrier). */
long h5t_seen_anywhere(const char *path);
/* Collective: rank 0 removes the file `path`, between barriers. */
void h5t_remove(const char *path);
/* Entries of the scratch directory (for "nothing was left behind"). Collective: barriers before and after. */
int h5t_count_entries(void);
/* The names of those entries, space-separated, into buf; returns buf. */
const char *h5t_list_entries(char *buf, size_t cap);
/* Rank 0 writes `text` to path (a plain file); all ranks then meet at a barrier. Returns 0 or -1. */
int h5t_write_text(const char *path, const char *text);
/* The first bytes of a plain file into buf (cap bytes, NUL-terminated); "" when unreadable. */
const char *h5t_read_text(const char *path, char *buf, size_t cap);
/* Removes path recursively (files and directories). Rank-local. */
void h5t_remove_tree(const char *path);

/* ---- the items' values ---------------------------------------------------------------------------------- */

/* The four dtypes under test, and HDF5 file types for them (little-endian, as written to disk). */
#define H5T_NTYPES 4
extern const inb_dtype h5t_types[H5T_NTYPES];
extern const char *const h5t_type_names[H5T_NTYPES];
hid_t h5t_file_type(inb_dtype t);

/* Element e of item i of input component `comp` in dtype t: a small value, exact in every dtype (uint8 too:
 * 2x+1 stays below 256). */
double h5t_value(int comp, int64_t i, size_t e, inb_dtype t);
/* Element e of an array of any dtype as a double, and stores v there. */
double h5t_get(const void *data, inb_dtype t, size_t e);
void h5t_set(void *data, inb_dtype t, size_t e, double v);

/* Rank 0, on an open file: writes dataset `name` of dtype t with `n` items of shape item[0..item_ndim),
 * filled with h5t_value(comp, i, e, t). Returns 0 or -1. */
int h5t_write_values(hid_t file, const char *name, inb_dtype t, int64_t n, int item_ndim, const int64_t *item,
                     int comp);
/* Rank 0, on an open file: an int64 dataset `name` of n items holding 0..n-1 (each item knows its index). */
int h5t_write_index(hid_t file, const char *name, int64_t n);
/* Collective: an input file "<dir>/<name>" (its path into `path`, PATH_MAX bytes) holding only h5t_write_index's
 * `dataset` of n items, written by rank 0 unless it exists already (so the tests that share it write it once).
 * No rank returns before rank 0 is done. Returns 0, or -1 on every rank when rank 0 could not write it. */
int h5t_index_input(char *path, const char *name, const char *dataset, int64_t n);

/* Collective: an input file "<dir>/<name>" (its path into `path`, PATH_MAX bytes) holding "/idx" (h5t_write_index)
 * and "/x" (float64 items of `per` elements, h5t_value of component 0), n items, written by rank 0 unless it exists
 * already. Records a check that it was written (checks.h); returns path. */
const char *h5t_idx_x_input(char *path, const char *name, int64_t n, int64_t per);

/* ---- the results of a run (h5.h, "The results of a run") --------------------------------------------------- */

/* A row of "/inbatch_results" and a record of "/inbatch_errors", as the tests read them (HDF5 converts the
 * file's packed compounds by member name). */
typedef struct {
  int64_t index;
  int state;      /* inb_h5_state */
  int code;
  double value;
} h5t_result;

typedef struct {
  int64_t index;
  int code, rank;
  char message[256];
} h5t_error;

/* Reads the whole table of the open file f: n rows into rows (the caller's). Returns 0, or -1 when the table
 * is missing, has another number of rows, or lacks a column. Rank-local. */
int h5t_read_table(hid_t f, h5t_result *rows, size_t n);
/* Reads every record of "/inbatch_errors" of f into *out (malloc'd, the caller frees; NULL when none), their
 * number into *n. Returns 0 or -1. Rank-local. */
int h5t_read_errors(hid_t f, h5t_error **out, size_t *n);

/* Rank-local: whether the committed outputs a and b hold the same rows: every dataset of datasets[0..n) (read as
 * float64), the results table (NaN values equal), and the records of "/inbatch_errors" in order (index, code and
 * message: the rank that ran a task may differ). 0 when they do, else -1 with the first difference in why (cap
 * bytes). */
int h5t_same_outputs(const char *a, const char *b, const char *const *datasets, size_t n, char *why, size_t cap);

/* ---- main ---------------------------------------------------------------------------------------------- */

/* Starts MPI, makes the scratch directory, runs the group (non-root ranks' cmocka progress, on stdout, is shown
 * only when they failed; their stderr always: failed checks and sanitizer reports show even when a rank dies
 * before it could replay anything), removes the directory, finalises. Returns the largest failure count of any
 * rank, or 1 when MPI or the directory does not start. INB_TEST_ALL_RANKS=1 shows every rank's progress as it
 * comes. */
int h5t_main(int argc, char **argv, const char *group, const struct CMUnitTest *tests, size_t n);

#endif
