/* Agreements across ranks: every rank learns the same status and message before anyone waits for the next
 * collective, and the entry of a collective call checks that every rank came, with the same arguments, in time. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/status.h"
#include "mpi/comm.h"

/* A status and its message, as one broadcast. */
typedef struct {
  int rc;
  char msg[INB__ERRMSG_MAX];
} status_msg;

int inb__mpi_agree(int rc, MPI_Comm comm) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int first = rc ? rank : size; /* the lowest failing rank speaks for all */
  int mrc = MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, comm);
  if (mrc != MPI_SUCCESS) return inb__mpi_fail(mrc, "agreeing on a status (MPI_Allreduce)");
  return first == size ? 0 : inb__mpi_agree_from(rc, first, comm);
}

int inb__mpi_agree_from(int rc, int first, MPI_Comm comm) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  status_msg st = {rc, ""};
  if (rank == first) snprintf(st.msg, sizeof st.msg, "%s", inb_errmsg());
  int mrc = MPI_Bcast(&st, (int)sizeof st, MPI_BYTE, first, comm);
  if (mrc != MPI_SUCCESS) return inb__mpi_fail(mrc, "sharing a failure's message (MPI_Bcast)");
  if (size == 1) return st.rc;
  /* every rank, the failing one too, ends with the same words: which rank failed, and why */
  char all[INB__ERRMSG_MAX + 32]; /* inb__err_set cuts it to the same length on every rank */
  snprintf(all, sizeof all, "rank %d: %s", first, st.msg);
  return inb__err_set(st.rc, all);
}

int inb__mpi_share_status(int rc, MPI_Comm comm) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  status_msg st = {rc, ""};
  if (rank == 0 && rc) snprintf(st.msg, sizeof st.msg, "%s", inb_errmsg());
  int mrc = MPI_Bcast(&st, (int)sizeof st, MPI_BYTE, 0, comm);
  if (mrc != MPI_SUCCESS) return inb__mpi_fail(mrc, "sharing rank 0's status (MPI_Bcast)");
  if (rank != 0 && st.rc) inb__err_set(st.rc, st.msg); /* rank 0's own was the source: the same bytes */
  return st.rc;
}

/* What a rank brings to the entry agreement, reduced with MPI_MAX: the digest and its complement (all equal
 * when max(h) == ~max(~h)), and size - rank of a failing rank (the lowest failing rank has the largest). */
enum { H, NOT_H, FAILING, NVALS };

/* The digests differ: every rank learns which ranks differ from rank 0's, in rank 0's words. */
static int mismatch(MPI_Comm comm, uint64_t digest, const char *what) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  uint64_t *all = inb__malloc((size_t)size * sizeof *all);
  int ok = all != NULL;
  MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_LAND, comm);
  char ranks[128] = "";
  if (ok && MPI_Allgather(&digest, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, comm) == MPI_SUCCESS) {
    size_t used = 0;
    for (int r = 1; r < size && used < sizeof ranks - 16; r++)
      if (all[r] != all[0]) used += (size_t)snprintf(ranks + used, sizeof ranks - used, "%s%d", used ? ", " : "", r);
  }
  inb__free(all);
  char words[512];
  snprintf(words, sizeof words, "%s", what);
  MPI_Bcast(words, (int)sizeof words, MPI_CHAR, 0, comm);
  return inb__err(INB_EINVAL, "%s: the ranks were called with different arguments (rank%s %s differ%s from rank 0): "
                              "every rank must make the same collective call", words, strchr(ranks, ',') ? "s" : "",
                  *ranks ? ranks : "?", strchr(ranks, ',') ? "" : "s");
}

int inb__mpi_agree_entry(inb__ecomm *e, int rc, uint64_t digest, int64_t wait_ms, const char *what) {
  MPI_Comm comm = inb__ecomm_comm(e);
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  uint64_t v[NVALS] = {digest, ~digest, rc ? (uint64_t)(size - rank) : 0};
  MPI_Request req;
  int mrc = MPI_Iallreduce(MPI_IN_PLACE, v, NVALS, MPI_UINT64_T, MPI_MAX, comm, &req);
  if (mrc != MPI_SUCCESS) return inb__mpi_fail(mrc, "MPI_Iallreduce");
  int done = inb__mpi_wait_until(&req, wait_ms > 0 ? inb__now_ns() + wait_ms * 1000000 : 0);
  if (done < 0) return done;
  if (!done) {
    char why[512];
    snprintf(why, sizeof why, "%s: not every rank arrived within %lld ms (a rank called with another target, or "
                              "not at all)", what, (long long)wait_ms);
    inb__ecomm_break(e, why);
    return inb__err(INB_EMPI, "%s", why);
  }
  if (v[H] != ~v[NOT_H]) return mismatch(comm, digest, what);
  if (!v[FAILING]) return 0;
  return inb__mpi_agree_from(rc, size - (int)v[FAILING], comm);
}
