/* The mpi target: every rank of the communicator calls inb_run; rank 0 runs init, the tasks are spread over
 * every rank (rank 0 included) and run there with the local target, the outcomes come back to rank 0 in task
 * order, post runs on rank 0, and every rank returns the same status and message.
 *
 * Phases, each closed by an agreement so that a failing rank never leaves the others in a collective:
 *   1. communicator (the engine's duplicate) and local validation      -> agree
 *   2. the same action everywhere (name, target, local target)        -> one allreduce
 *   3. rank 0's settings and call arguments                           -> broadcast
 *   4. init on rank 0                                                  -> rank 0's status and task count
 *   5. the schedule (static or dynamic)                                -> agree
 *   6. post on rank 0                                                  -> rank 0's status */
#include <stdlib.h>
#include <string.h>

#include "core/args.h"
#include "core/status.h"
#include "engine/taskgen.h"
#include "engine/validate.h"
#include "targets/mpi/mpirun.h"
#include "targets/mpi/msg.h"

typedef struct {
  int32_t n_workers, schedule;
  int32_t keep_values, pad;
  uint64_t chunk;
  int64_t timeout_ms;
} settings;

static uint64_t fnv1a(const char *s, uint64_t h) {
  for (; s && *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
  return h;
}

/* One allreduce: the largest and the smallest fingerprint must be equal. */
static int check_same_action(const inb__mpi *x) {
  const inb__call *c = x->c;
  uint64_t h = fnv1a(c->name, 1469598103934665603ull);
  h = (h ^ (uint64_t)c->target) * 1099511628211ull;
  h = (h ^ (uint64_t)c->local) * 1099511628211ull;
  uint64_t v[2] = {h, ~h};
  int rc = MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_MAX, x->comm);
  if (rc != MPI_SUCCESS) return inb__mpi_fail(rc, "MPI_Allreduce");
  if (v[0] == ~v[1]) return 0;
  inb__err(INB_EINVAL, "action '%s' (rank 0's): the ranks were called with different actions (name, target or local "
                       "target differ): every rank must call inb_run with the same action", c->name);
  return inb__mpi_share_status(INB_EINVAL, x->comm); /* rank 0's words on every rank */
}

/* Rank 0's options and call arguments reach every rank; the others' are ignored. */
static int share_settings(inb__mpi *x, const inb_opts *o, uint8_t **callbuf, inb_args **call) {
  inb__call *c = x->c;
  settings s = {o->n_workers, (int32_t)o->schedule, c->act->post != NULL, 0, o->chunk, o->timeout_ms};
  int rc = MPI_Bcast(&s, (int)sizeof s, MPI_BYTE, 0, x->comm);
  if (rc != MPI_SUCCESS) return inb__mpi_fail(rc, "MPI_Bcast");
  inb__buf b = {0};
  int lrc = 0;
  if (x->rank == 0) {
    lrc = inb__wire_put_header(&b, 1);
    if (!lrc) lrc = inb__wire_pack_args(&b, c->call);
    if (!lrc) inb__wire_seal(&b, 0, 1);
    *callbuf = b.p; /* kept: rank 0's tasks too get copies of the call's arrays, never the caller's memory */
  }
  rc = inb__mpi_agree(lrc, x->comm);
  size_t n = b.n;
  if (!rc) rc = inb__msg_bcast(callbuf, &n, x->comm);
  if (!rc) {
    uint64_t count;
    size_t off;
    lrc = inb__wire_get_header(*callbuf, n, &count, &off);
    if (!lrc) lrc = count == 1 ? inb__wire_unpack_args(*callbuf, n, &off, call) : INB_ECORRUPT;
    if (!lrc) c->call = *call;
  }
  if (!rc) rc = inb__mpi_agree(lrc, x->comm);
  if (rc) return rc;
  x->keep_values = s.keep_values;
  c->n_workers = x->local == INB_THREADS ? (s.n_workers > 0 ? s.n_workers : inb__cpus_available()) : 1;
  c->chunk = s.chunk;
  c->timeout_ms = s.timeout_ms;
  x->total_workers = c->n_workers;
  MPI_Allreduce(MPI_IN_PLACE, &x->total_workers, 1, MPI_INT, MPI_SUM, x->comm);
  x->is_static = s.schedule == INB_STATIC;
  int level = MPI_THREAD_SINGLE;
  MPI_Query_thread(&level);
  /* DYNAMIC reads rows on rank 0's compute thread (MPI-IO) while its calling thread serves requests: that takes
   * MPI_THREAD_MULTIPLE. A program that initialised MPI with less gets the STATIC schedule for such calls. */
  if (c->io && level < MPI_THREAD_MULTIPLE) x->is_static = true;
  return 0;
}

/* Init on rank 0 (and its result slots); every rank learns its outcome and the number of tasks. */
static int run_init(inb__mpi *x, inb_results *results) {
  inb__call *c = x->c;
  int rc = 0;
  if (x->rank == 0) {
    rc = inb__taskgen_init(c);
    if (!rc && x->keep_values) {
      rc = inb__results_open(results, c->ntasks) ? inb__err(INB_ENOMEM, "action '%s': out of memory for %zu "
                                                            "results", c->name, c->ntasks) : 0;
      if (!rc) c->results = results;
    }
  }
  rc = inb__mpi_share_status(rc, x->comm);
  uint64_t n = c->ntasks;
  if (!rc) MPI_Bcast(&n, 1, MPI_UINT64_T, 0, x->comm);
  if (x->rank != 0) c->ntasks = (size_t)n;
  return rc;
}

static int phases(inb__mpi *x, const inb_opts *o, inb_batch **out, uint8_t **callbuf, inb_args **call,
                  inb_results *results) {
  inb__call *c = x->c;
  int rc = inb__mpi_agree(inb__validate(c, c->b, c->act, o), x->comm);
  x->local = c->local;
  if (!rc) rc = check_same_action(x);
  if (!rc) rc = share_settings(x, o, callbuf, call);
  if (!rc) rc = run_init(x, results);
  if (rc) return rc;
  if (c->timeout_ms) c->deadline_ns = inb__now_ns() + c->timeout_ms * 1000000;
  rc = x->is_static ? inb__mpi_static(x) : inb__mpi_dynamic(x);
  if (rc) return rc;
  if (x->rank == 0) rc = inb__finish(c, out);
  return inb__mpi_share_status(rc, x->comm);
}

int inb__mpi_run(inb__call *c, const inb_opts *opts, inb_batch **out) {
  static const inb_opts no_opts = {0};
  static const inb_args empty = {0};
  const inb_opts *o = opts ? opts : &no_opts;
  int rc = inb__mpi_ensure_init();
  if (rc) return rc;
  inb__mpi x = {.c = c};
  rc = inb__mpi_engine_comm(o->comm ? *(MPI_Comm *)o->comm : MPI_COMM_WORLD, &x.comm);
  if (rc) return rc;
  MPI_Comm_rank(x.comm, &x.rank);
  MPI_Comm_size(x.comm, &x.size);
  pthread_mutex_init(&x.mu, NULL);
  c->remote = x.rank != 0;
  c->rank = x.rank;
  c->by_ref = c->io != NULL; /* inb_h5_run: each rank reads the rows of the tasks it runs */
  c->extra = c->act && c->act->extra ? c->act->extra : &empty;
  uint8_t *callbuf = NULL;
  inb_args *call = NULL;
  inb_results results = {0};
  rc = phases(&x, o, out, &callbuf, &call, &results);
  if (c->results) inb__results_close(c->results);
  inb__taskgen_release(c);
  inb__errlist_release(&c->first);
  inb__errlist_release(&c->errors);
  inb_args_free(&call);
  free(callbuf);
  pthread_mutex_destroy(&x.mu);
  return rc;
}
