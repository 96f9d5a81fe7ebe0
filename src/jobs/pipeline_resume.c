/* Where a pipeline's output starts: new, or the partial of an earlier run of the same job (pipeline_resume.h). */
#include "jobs/pipeline_resume.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/sha256.h"
#include "core/status.h"
#include "mpi/comm.h"

/* The root attribute of the partial that names the job it belongs to. */
#define IDENTITY "inbatch_resume_identity"

/* Items whose finished bits are read at once: a bounded piece of the table. */
enum { PIECE_ITEMS = 1 << 20 };

bool inb__resumable_specs(const inb_h5_output_spec *specs, size_t n) {
  for (size_t k = 0; k < n; k++)
    if (specs[k].scratch || specs[k].deflate || specs[k].codec != INB_H5_NONE) return false;
  return true;
}

static void add_i64(inb__sha256 *h, int64_t v) { inb__sha256_add(h, &v, sizeof v); }

/* A step's arguments, by the type of each (as the job resolved them: defaults applied). */
static void add_args(inb__sha256 *h, const inb__job_step *st) {
  add_i64(h, (int64_t)st->args.n);
  for (size_t k = 0; k < st->args.n; k++) {
    inb__sha256_str(h, st->args.spec[k].name);
    switch (st->args.spec[k].type) {
    case INB_ARG_REAL: inb__sha256_add(h, &st->args.v[k].r, sizeof st->args.v[k].r); break;
    case INB_ARG_INT: add_i64(h, st->args.v[k].i); break;
    case INB_ARG_BOOL: add_i64(h, st->args.v[k].b); break;
    case INB_ARG_DTYPE: add_i64(h, st->args.v[k].dtype); break;
    default: inb__sha256_str(h, st->args.v[k].s ? st->args.v[k].s : ""); break;
    }
  }
}

void inb__pipeline_identity(const inb__job *j, const inb_h5_output_spec *specs, size_t n, char hex[65]) {
  inb__sha256 h;
  inb__sha256_init(&h);
  char version[32];
  snprintf(version, sizeof version, "inbatch %d.%d.%d", INBATCH_VERSION_MAJOR, INBATCH_VERSION_MINOR,
           INBATCH_VERSION_PATCH);
  inb__sha256_str(&h, version);
  struct stat st;
  inb__sha256_str(&h, j->input);
  if (stat(j->input, &st) == 0) { /* the input's identity: another file of the same name is another job */
    add_i64(&h, (int64_t)st.st_size);
    add_i64(&h, (int64_t)st.st_mtim.tv_sec);
    add_i64(&h, (int64_t)st.st_mtim.tv_nsec);
  }
  for (size_t k = 0; k < j->ncomponents; k++) inb__sha256_str(&h, j->components[k]);
  add_i64(&h, (int64_t)j->seed);
  for (size_t k = 0; k < n; k++) {
    inb__sha256_str(&h, specs[k].name ? specs[k].name : "");
    add_i64(&h, specs[k].dtype);
    add_i64(&h, specs[k].ndim);
    for (int d = 0; d < specs[k].ndim; d++) add_i64(&h, specs[k].shape[d]);
  }
  for (size_t s = 0; s < j->nsteps; s++) {
    const inb__job_step *step = &j->steps[s];
    inb__sha256_str(&h, step->action->name);
    inb__sha256_str(&h, step->kernel ? step->kernel->code : "");
    add_args(&h, step);
    for (size_t p = 0; p < step->npairs; p++) {
      for (size_t k = 0; k < step->pairs[p].nsrc; k++) inb__sha256_str(&h, step->pairs[p].src[k]);
      inb__sha256_str(&h, step->pairs[p].dst ? step->pairs[p].dst : "");
    }
    inb__sha256_add(&h, &step->p, sizeof step->p);
    add_i64(&h, step->rng);
  }
  inb__sha256_hex(&h, hex, 64);
}

static int agree(MPI_Comm comm, int rc) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  return size > 1 ? inb__mpi_agree(rc, comm) : rc;
}

/* Rank 0: the lock of the job's output, in the folder "<output>.journal". */
static int lock(const inb__job *j, MPI_Comm comm, inb__started *s) {
  int rank = 0, rc = 0;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s.journal", j->output);
    rc = inb__journal_lock(dir, &s->lock);
    if (rc) rc = inb__err(rc, "%s: %s (nothing was written)", j->where_output, inb_errmsg());
    else if (inb__journal_lock_stale(s->lock))
      fprintf(stderr, "inbatch: the lock of an earlier run (%s) was taken over\n", inb__journal_lock_stale(s->lock));
  }
  return agree(comm, rc);
}

/* The partial is this job's: its identity attribute says so. Else it is left as it is, for --restart. */
static int check_identity(const inb__job *j, inb_h5_output *out, const char *want) {
  char got[80] = "";
  int rc = inb_h5_annotation(out, IDENTITY, got, sizeof got);
  if (rc == INB_ENOTFOUND || (!rc && strcmp(got, want) != 0))
    return inb__err(INB_EINVAL, "%s: the partial output of an earlier run is another job's (the job file, its "
                    "input or this inbatch changed since): run with --restart to discard it and start over",
                    j->where_output);
  return rc ? inb__err(rc, "%s: %s", j->where_output, inb_errmsg()) : 0;
}

/* Which items earlier runs finished, piece by piece of the table. */
static int read_finished(inb__started *s, int64_t length) {
  s->finished = inb__calloc((size_t)(length + 63) / 64 + 1, sizeof *s->finished);
  int rc = s->finished ? 0 : inb__err(INB_ENOMEM, "out of memory for the map of finished items");
  /* agreed by inb_h5_finished's entry: a rank without its map joins with its failure */
  for (int64_t first = 0; first < length; first += PIECE_ITEMS) {
    size_t n = (size_t)(length - first < PIECE_ITEMS ? length - first : PIECE_ITEMS);
    uint64_t *piece = rc ? NULL : s->finished + first / 64; /* PIECE_ITEMS is a multiple of 64 */
    uint64_t scratch[1];
    int prc = inb_h5_finished(s->out, first, rc ? 0 : n, piece ? piece : scratch);
    if (!rc) rc = prc;
    if (rc) break;
  }
  for (int64_t w = 0; !rc && w < (length + 63) / 64; w++) s->nfinished += __builtin_popcountll(s->finished[w]);
  return rc;
}

int inb__output_start(const inb__job *j, const inb_h5_output_spec *specs, size_t n, int64_t length, bool overwrite,
                      bool restart, MPI_Comm comm, inb__started *s) {
  *s = (inb__started){0};
  char id[65];
  inb__pipeline_identity(j, specs, n, id);
  int rc = lock(j, comm, s);
  if (!rc && !restart) {
    rc = inb_h5_reopen(j->output, specs, n, length, overwrite, &comm, &s->out);
    if (rc == INB_ENOTFOUND) rc = 0; /* the same on every rank: no partial, a new output */
    else if (rc) rc = inb__err(rc, "%s: %s", j->where_output, inb_errmsg());
  }
  if (!rc && s->out) {
    rc = check_identity(j, s->out, id);
    if (!rc) rc = read_finished(s, length);
    if (rc) inb_h5_keep(&s->out); /* another job's, or unreadable: left for the user to decide */
    s->resumed = !rc;
  }
  if (!rc && !s->out) {
    rc = inb_h5_create_resumable(j->output, specs, n, length, overwrite, &comm, &s->out);
    if (rc) rc = inb__err(rc, "%s: %s", j->where_output, inb_errmsg());
    if (!rc) rc = inb_h5_annotate(s->out, IDENTITY, id);
    if (rc && s->out) inb_h5_abort(&s->out);
  }
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  if (!rc && s->resumed && rank == 0)
    fprintf(stderr, "inbatch: resuming: %lld of %lld items done\n", (long long)s->nfinished, (long long)length);
  if (rc) inb__output_end(s);
  return rc;
}

void inb__output_end(inb__started *s) {
  inb__free(s->finished);
  s->finished = NULL;
  inb__journal_unlock(&s->lock);
}
