/* MPI start-up, the engine's communicators, and waiting on a request with a deadline. */
#include "mpi/comm.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/clock.h"
#include "core/status.h"

int inb__mpi_fail(int mpi_rc, const char *what) {
  char msg[MPI_MAX_ERROR_STRING] = "";
  int len = 0;
  MPI_Error_string(mpi_rc, msg, &len);
  return inb__err(INB_EMPI, "%s failed: %s", what, msg);
}

int inb__mpi_wait_until(MPI_Request *req, int64_t deadline_ns) {
  long sleep_ns = 1000;
  for (;;) {
    int done = 0, rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return inb__mpi_fail(rc, "MPI_Test");
    if (done) return 1;
    if (deadline_ns && inb__now_ns() >= deadline_ns) return 0;
    struct timespec ts = {0, sleep_ns};
    nanosleep(&ts, NULL); /* a rank that waits long for the others gives its core to them */
    if (sleep_ns < 1000000) sleep_ns *= 2;
  }
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

/* The engine's state is cached as an attribute of the user's communicator: MPI frees it when that one is freed
 * (MPI_COMM_WORLD: at MPI_Finalize), so there is no table of our own to keep in step. */
struct inb__ecomm {
  MPI_Comm dup;           /* MPI_COMM_NULL until made */
  pthread_mutex_t mu;     /* recursive: held from the entry to the return of a collective call */
  bool broken;            /* an agreement timed out: this rank's collectives on dup are out of step for good */
  char why[512];
};

static int keyval = MPI_KEYVAL_INVALID;
static pthread_mutex_t create_mu = PTHREAD_MUTEX_INITIALIZER; /* the keyval and each state are made once */

static int free_state(MPI_Comm comm, int key, void *attr, void *extra) {
  (void)comm, (void)key, (void)extra;
  inb__ecomm *e = attr;
  if (e->dup != MPI_COMM_NULL) MPI_Comm_free(&e->dup);
  pthread_mutex_destroy(&e->mu);
  inb__free(e);
  return MPI_SUCCESS;
}

/* The state of `user`, made (without its duplicate) on first use. */
static int state_of(MPI_Comm user, inb__ecomm **out) {
  int rc = MPI_SUCCESS, found = 0;
  inb__ecomm *e = NULL;
  pthread_mutex_lock(&create_mu);
  if (keyval == MPI_KEYVAL_INVALID) rc = MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, free_state, &keyval, NULL);
  if (rc == MPI_SUCCESS) rc = MPI_Comm_get_attr(user, keyval, &e, &found);
  if (rc == MPI_SUCCESS && !found) {
    e = inb__calloc(1, sizeof *e);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    if (e) {
      e->dup = MPI_COMM_NULL;
      pthread_mutex_init(&e->mu, &attr);
      rc = MPI_Comm_set_attr(user, keyval, e);
      if (rc != MPI_SUCCESS) pthread_mutex_destroy(&e->mu), inb__free(e), e = NULL;
    }
    pthread_mutexattr_destroy(&attr);
  }
  pthread_mutex_unlock(&create_mu);
  if (rc != MPI_SUCCESS) return inb__mpi_fail(rc, "caching the engine's communicator");
  if (!e) return inb__err(INB_ENOMEM, "out of memory for the engine's communicator");
  *out = e;
  return 0;
}

/* A non-blocking collective on `user`, waited for until the deadline; on timeout e (when there is one) is
 * broken for good. Returns 0 or INB_EMPI. */
static int wait_for_all(MPI_Request *req, inb__ecomm *e, int64_t wait_ms, const char *what) {
  int done = inb__mpi_wait_until(req, wait_ms > 0 ? inb__now_ns() + wait_ms * 1000000 : 0);
  if (done < 0) return done;
  if (done) return 0;
  char why[512];
  snprintf(why, sizeof why, "the other ranks did not arrive within %lld ms to %s (a rank called with another target, "
                            "or not at all)", (long long)wait_ms, what);
  if (e) inb__ecomm_break(e, why);
  return inb__err(INB_EMPI, "%s", why);
}

/* The first use of `user` (every rank's, in the same collective call): the ranks agree that each could prepare
 * its state (local_rc: its own failure) before making the duplicate together, so that no rank is left making it
 * alone. e is NULL where the state could not be made. */
static int first_use(MPI_Comm user, inb__ecomm *e, int local_rc, int64_t wait_ms) {
  MPI_Request req;
  int worst = local_rc; /* codes are negative: the minimum is a failure when there is one */
  int rc = MPI_Iallreduce(MPI_IN_PLACE, &worst, 1, MPI_INT, MPI_MIN, user, &req);
  if (rc != MPI_SUCCESS) return inb__mpi_fail(rc, "MPI_Iallreduce");
  if ((rc = wait_for_all(&req, e, wait_ms, "set up the engine's communicator"))) return rc;
  if (local_rc) return local_rc;
  if (worst) return inb__err(worst, "another rank could not set up the engine's communicator (%s)", inb_strerror(worst));
  MPI_Comm dup = MPI_COMM_NULL;
  rc = MPI_Comm_idup(user, &dup, &req);
  if (rc != MPI_SUCCESS) return inb__mpi_fail(rc, "MPI_Comm_idup");
  if ((rc = wait_for_all(&req, e, wait_ms, "set up the engine's communicator"))) return rc;
  rc = MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN); /* errors come back as codes */
  if (rc != MPI_SUCCESS) return inb__mpi_fail(rc, "MPI_Comm_set_errhandler");
  e->dup = dup;
  return 0;
}

int inb__mpi_enter(MPI_Comm user, int64_t wait_ms, inb__ecomm **out, MPI_Comm *comm) {
  inb__ecomm *e = NULL;
  int rc = state_of(user, &e);
  if (rc) return first_use(user, NULL, rc, wait_ms); /* the others are making theirs: tell them */
  pthread_mutex_lock(&e->mu);
  if (e->broken) rc = inb__err(INB_EMPI, "this communicator cannot be used by inbatch any more: %s", e->why);
  if (!rc && e->dup == MPI_COMM_NULL) rc = first_use(user, e, 0, wait_ms);
  if (rc) {
    pthread_mutex_unlock(&e->mu);
    return rc;
  }
  *out = e;
  *comm = e->dup;
  return 0;
}

MPI_Comm inb__ecomm_comm(const inb__ecomm *e) { return e->dup; }

void inb__ecomm_break(inb__ecomm *e, const char *why) {
  e->broken = true;
  snprintf(e->why, sizeof e->why, "%s", why);
}

void inb__mpi_leave(inb__ecomm *e) {
  if (e) pthread_mutex_unlock(&e->mu);
}

int inb__mpi_engine_comm(MPI_Comm user, MPI_Comm *out) {
  inb__ecomm *e = NULL;
  int rc = inb__mpi_enter(user, 0, &e, out);
  inb__mpi_leave(e);
  return rc;
}
