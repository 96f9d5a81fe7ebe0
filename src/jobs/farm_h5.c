/* The HDF5 output of an exec job (see farm_h5.h): rank 0 holds every task's outcome after the gather, so it writes
 * every row (independent writes of contiguous datasets); the other ranks take part in the collective calls. */
#include "jobs/farm_h5.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"
#include "data/h5output.h"
#include "engine/scratch.h"
#include "mpi/comm.h"

enum { RANK, EXIT, SIGNAL, ATTEMPTS, START, RUNTIME, NCOLS };
static const char *const k_names[NCOLS] = {"/exec_rank", "/exec_exit", "/exec_signal", "/exec_attempts",
                                           "/exec_start", "/exec_runtime"};

/* The columns' rows for tasks 0..n-1, each in a scratch block (the output layer takes them). */
static int columns(int64_t n, const inb__farm_record *all, const bool *ran, uint8_t **cols) {
  for (int k = 0; k < NCOLS; k++)
    if (!(cols[k] = inb__scratch_get((size_t)n * (k < START ? 4 : 8) + 8, 0))) return INB_ENOMEM;
  for (int64_t i = 0; i < n; i++) {
    const inb__farm_record *r = &all[i];
    int32_t ints[START] = {-1, -1, -1, 0};
    double reals[2] = {NAN, NAN};
    if (ran[i]) {
      ints[RANK] = r->rank, ints[EXIT] = r->exit_status, ints[SIGNAL] = r->signal ? r->signal : -1;
      ints[ATTEMPTS] = r->attempts, reals[0] = r->start, reals[1] = r->runtime;
    }
    for (int k = 0; k < START; k++) memcpy(cols[k] + 4 * i, &ints[k], 4);
    for (int k = START; k < NCOLS; k++) memcpy(cols[k] + 8 * i, &reals[k - START], 8);
  }
  return 0;
}

/* Rank 0's rows of the results table and error records; *nerrs of them. */
static int table(int64_t n, const inb__farm_record *all, const bool *ran, inb__h5_tablerow **rows,
                 inb__h5_errrow **errs, size_t *nerrs) {
  *rows = inb__calloc((size_t)n + 1, sizeof **rows);
  size_t failed = 0;
  for (int64_t i = 0; i < n; i++) failed += ran[i] && all[i].failed;
  *errs = inb__calloc(failed + 1, sizeof **errs);
  if (!*rows || !*errs) return INB_ENOMEM;
  *nerrs = 0;
  for (int64_t i = 0; i < n; i++) {
    const inb__farm_record *r = &all[i];
    inb__h5_tablerow *t = &(*rows)[i];
    *t = (inb__h5_tablerow){.index = i, .value = NAN, .state = INB_H5_NOT_RUN};
    if (!ran[i]) continue;
    t->state = r->failed ? INB_H5_FAILED : INB_H5_DONE;
    t->code = r->failed ? INB_EITEM : 0;
    if (r->started && r->exit_status >= 0) t->value = r->exit_status;
    if (!r->failed) continue;
    inb__h5_errrow *e = &(*errs)[(*nerrs)++];
    *e = (inb__h5_errrow){.index = i, .code = INB_EITEM, .rank = r->rank};
    snprintf(e->message, sizeof e->message, "%s", r->msg);
  }
  return 0;
}

/* Every row: rank 0's columns and table, the others' empty parts of the collective calls. */
static int write_rows(inb_h5_output *out, MPI_Comm comm, int rank, int size, int64_t n, const inb__farm_record *all, const bool *ran) {
  uint8_t *cols[NCOLS] = {0};
  inb__h5_tablerow *rows = NULL;
  inb__h5_errrow *errs = NULL;
  size_t nerrs = 0;
  int64_t *index = rank == 0 ? inb__malloc(((size_t)n + 1) * sizeof *index) : NULL;
  int rc = rank == 0 && !index ? INB_ENOMEM : 0;
  for (int64_t i = 0; index && i < n; i++) index[i] = i;
  if (!rc && rank == 0) rc = columns(n, all, ran, cols);
  if (!rc && rank == 0) rc = table(n, all, ran, &rows, &errs, &nerrs);
  if (rc) rc = inb__err(rc, "out of memory for the HDF5 output's %lld rows", (long long)n);
  if (!rc && rank == 0) rc = inb__h5_keep(out, index, (size_t)n, cols); /* takes the columns, also on failure */
  else
    for (int k = 0; k < NCOLS; k++) inb__scratch_put(cols[k]);
  if (size > 1) rc = inb__mpi_agree(rc, comm);
  if (!rc) rc = inb__h5_write_kept(out);
  if (!rc) rc = inb__h5_write_results(out, rows, rank == 0 ? (size_t)n : 0, errs, nerrs);
  inb__free(index), inb__free(rows), inb__free(errs);
  return rc;
}

int inb__farm_h5_write(const char *path, bool overwrite, MPI_Comm comm, int64_t n, const inb__farm_record *all,
                       const bool *ran, const inb__provenance *prov) {
  inb_h5_output_spec specs[NCOLS];
  for (int k = 0; k < NCOLS; k++)
    specs[k] = (inb_h5_output_spec){.name = k_names[k], .dtype = k < START ? INB_I32 : INB_F64};
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  inb_h5_output *out = NULL;
  int rc = inb_h5_create(path, specs, NCOLS, n, overwrite, &comm, &out);
  if (!rc) rc = inb__provenance_annotate(out, prov);
  if (!rc) rc = write_rows(out, comm, rank, size, n, all, ran);
  if (!rc) rc = inb__provenance_annotate_end(out);
  if (!rc) return inb_h5_commit(&out);
  if (out) inb_h5_abort(&out);
  return rc;
}
