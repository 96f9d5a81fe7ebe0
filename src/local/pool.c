/* A persistent pthread pool with a FIFO of jobs. A job is a function every participant runs; participants
 * claim work from the job themselves, so the pool knows nothing of tasks or chunks. */
#include "local/pool.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

/* The pool never grows past this; beyond it the caller's share and the existing helpers do the work. */
#define POOL_MAX 256

typedef struct job {
  inb__pool_work work;
  void *ctx;
  int want;    /* helpers still welcome */
  int joined;  /* helpers that took it */
  int left;    /* helpers that finished */
  struct job *next;
} job;

static struct {
  pthread_mutex_t mu;
  pthread_cond_t work_cv; /* pool threads wait here for a job */
  pthread_cond_t done_cv; /* callers wait here for their helpers to leave */
  job *head, *tail;
  int nthreads;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0};

/* Unlinks j from the queue if it is still there. Under pool.mu. */
static void unlink_job(job *j) {
  job **p = &pool.head, *prev = NULL;
  while (*p && *p != j) {
    prev = *p;
    p = &(*p)->next;
  }
  if (!*p) return;
  *p = j->next;
  if (pool.tail == j) pool.tail = prev;
  j->next = NULL;
}

static void *helper_main(void *unused) {
  (void)unused;
  pthread_mutex_lock(&pool.mu);
  for (;;) {
    while (!pool.head) pthread_cond_wait(&pool.work_cv, &pool.mu);
    job *j = pool.head;
    int id = ++j->joined;
    if (j->joined == j->want) unlink_job(j);
    pthread_mutex_unlock(&pool.mu);
    j->work(j->ctx, id);
    pthread_mutex_lock(&pool.mu);
    j->left++;
    pthread_cond_broadcast(&pool.done_cv);
  }
  return NULL;
}

/* Grows the pool to n threads (under pool.mu). Pool threads block every signal: signals are the program's,
 * and a handler running on a pool thread would surprise it. Returns the number of threads there are. */
static int grow_to(int n) {
  if (n > POOL_MAX) n = POOL_MAX;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  while (pool.nthreads < n) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, helper_main, NULL);
    pthread_attr_destroy(&attr);
    if (rc) break; /* fewer helpers, same results: the caller works too */
    pool.nthreads++;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return pool.nthreads;
}

void inb__pool_run(int nhelpers, inb__pool_work work, void *ctx) {
  job j = {.work = work, .ctx = ctx};
  if (nhelpers > 0) {
    pthread_mutex_lock(&pool.mu);
    int have = grow_to(nhelpers);
    j.want = nhelpers < have ? nhelpers : have;
    if (j.want > 0) {
      if (pool.tail)
        pool.tail->next = &j;
      else
        pool.head = &j;
      pool.tail = &j;
      if (j.want >= have)
        pthread_cond_broadcast(&pool.work_cv);
      else
        for (int k = 0; k < j.want; k++) pthread_cond_signal(&pool.work_cv);
    }
    pthread_mutex_unlock(&pool.mu);
  }
  work(ctx, 0);
  if (j.want > 0) {
    pthread_mutex_lock(&pool.mu);
    unlink_job(&j); /* late helpers would find nothing left to claim: don't wait for them to come */
    while (j.left < j.joined) pthread_cond_wait(&pool.done_cv, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
  }
}
