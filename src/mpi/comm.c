/* MPI start-up, the engine's communicator, and status agreement across ranks. */
#include "mpi/comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"

int inb__mpi_fail(int mpi_rc, const char *what) {
  char msg[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  MPI_Error_string(mpi_rc, msg, &len);
  return inb__err(INB_EMPI, "%s failed: %s", what, msg);
}

int inb__mpi_ensure_init(void) {
  int inited = 0, finalized = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  if (finalized) return inb__err(INB_EMPI, "MPI was finalised already: the mpi target needs it running");
  if (inited) return 0;
  int provided = 0;
  int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided);
  return rc == MPI_SUCCESS ? 0 : inb__mpi_fail(rc, "MPI_Init_thread");
}

int inb_mpi_init(int *argc, char ***argv) {
  int inited = 0, provided = 0;
  MPI_Initialized(&inited);
  if (inited) return 0;
  int rc = MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
  return rc == MPI_SUCCESS ? 0 : inb__mpi_fail(rc, "MPI_Init_thread");
}

int inb_mpi_finalize(void) {
  int inited = 0, finalized = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  if (!inited || finalized) return 0;
  int rc = MPI_Finalize();
  return rc == MPI_SUCCESS ? 0 : inb__mpi_fail(rc, "MPI_Finalize");
}

int inb_mpi_rank(void) {
  int inited = 0, finalized = 0, rank = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  if (inited && !finalized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

/* The duplicate is cached as an attribute of the user's communicator: MPI frees it when that one is freed
 * (MPI_COMM_WORLD: at MPI_Finalize), so there is no table of our own to keep in step. */
static int keyval = MPI_KEYVAL_INVALID;

static int free_dup(MPI_Comm comm, int key, void *attr, void *extra) {
  (void)comm, (void)key, (void)extra;
  MPI_Comm_free((MPI_Comm *)attr);
  inb__free(attr);
  return MPI_SUCCESS;
}

int inb__mpi_engine_comm(MPI_Comm user, MPI_Comm *out) {
  int rc = MPI_SUCCESS, found = 0;
  MPI_Comm *dup = NULL;
  if (keyval == MPI_KEYVAL_INVALID) /* first use happens in a collective call: every rank does it alike */
    rc = MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, free_dup, &keyval, NULL);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_get_attr(user, keyval, &dup, &found);
  if (rc != MPI_SUCCESS) return inb__mpi_fail(rc, "caching the engine's communicator");
  if (found) {
    *out = *dup;
    return 0;
  }
  dup = inb__malloc(sizeof *dup);
  if (!dup) return inb__err(INB_ENOMEM, "out of memory");
  rc = MPI_Comm_dup(user, dup);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_set_attr(user, keyval, dup);
  if (rc != MPI_SUCCESS) {
    inb__free(dup);
    return inb__mpi_fail(rc, "MPI_Comm_dup");
  }
  *out = *dup;
  return 0;
}

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
  MPI_Allreduce(MPI_IN_PLACE, &first, 1, MPI_INT, MPI_MIN, comm);
  if (first == size) return 0;
  status_msg st = {rc, ""};
  if (rank == first) snprintf(st.msg, sizeof st.msg, "%s", inb_errmsg());
  MPI_Bcast(&st, (int)sizeof st, MPI_BYTE, first, comm);
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
  MPI_Bcast(&st, (int)sizeof st, MPI_BYTE, 0, comm);
  if (rank != 0 && st.rc) inb__err_set(st.rc, st.msg); /* rank 0's own was the source: the same bytes */
  return st.rc;
}
