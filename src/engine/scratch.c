/* A small cache of large blocks (see scratch.h). Each block carries its capacity and origin in a 16-byte
 * header. */
#include "engine/scratch.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/alloc.h"

enum { KEEP = 8, HEAD = 16 };

/* From this size on, blocks are mapped with transparent huge pages: a million task results fill ~24 MB, and
 * faulting it in 4 KiB pages cost more than the tasks themselves. */
#define MAP_BYTES ((size_t)4 << 20)

typedef struct {
  size_t cap;  /* usable bytes after the header */
  bool mapped; /* from mmap (else malloc) */
} head;
_Static_assert(sizeof(head) <= HEAD, "the header fits in HEAD bytes");

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static head *kept[KEEP]; /* free blocks */

static head *fresh(size_t n) {
  head *h;
  if (n + HEAD >= MAP_BYTES) {
    if (inb__fault(INB__SITE("mmap"))) return NULL;
    void *p = mmap(NULL, n + HEAD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    inb__alloc_counted();
#ifdef MADV_HUGEPAGE
    madvise(p, n + HEAD, MADV_HUGEPAGE); /* advice only: failure changes nothing */
#endif
    h = p;
    h->mapped = true;
  } else {
    h = inb__malloc(n + HEAD);
    if (!h) return NULL;
    h->mapped = false;
  }
  h->cap = n;
  return h;
}

static void release(head *h) {
  if (h && h->mapped) {
    munmap(h, h->cap + HEAD);
    inb__alloc_uncounted();
  }
  else
    inb__free(h);
}

void *inb__scratch_get(size_t n, int zero) {
  head *h = NULL;
  if (!n) n = 1;
  pthread_mutex_lock(&mu);
  for (int k = 0; k < KEEP && !h; k++)
    if (kept[k] && kept[k]->cap >= n && kept[k]->cap / 4 <= n + 4096) { /* big enough, not wasteful */
      h = kept[k];
      kept[k] = NULL;
    }
  pthread_mutex_unlock(&mu);
  if (!h && !(h = fresh(n))) return NULL;
  void *p = (char *)h + HEAD;
  if (zero) memset(p, 0, n);
  return p;
}

void inb__scratch_put(void *p) {
  if (!p) return;
  head *h = (head *)((char *)p - HEAD);
  pthread_mutex_lock(&mu);
  int slot = -1;
  for (int k = 0; k < KEEP && slot < 0; k++)
    if (!kept[k]) slot = k;
  if (slot < 0) { /* full: replace the smallest if this one is larger */
    slot = 0;
    for (int k = 1; k < KEEP; k++)
      if (kept[k]->cap < kept[slot]->cap) slot = k;
    if (kept[slot]->cap < h->cap) {
      head *old = kept[slot];
      kept[slot] = h;
      h = old;
    }
  } else {
    kept[slot] = h;
    h = NULL;
  }
  pthread_mutex_unlock(&mu);
  release(h);
}

size_t inb__scratch_trim(void) {
  head *all[KEEP];
  size_t n = 0;
  pthread_mutex_lock(&mu);
  for (int k = 0; k < KEEP; k++)
    if (kept[k]) {
      all[n++] = kept[k];
      kept[k] = NULL;
    }
  pthread_mutex_unlock(&mu);
  for (size_t k = 0; k < n; k++) release(all[k]); /* outside the lock: munmap may take a while */
  return n;
}

int inb__results_open(inb_results *r, size_t n) {
  void *slots = inb__scratch_get(inb__results_slot_bytes(n), 0);
  if (!slots) return INB_ENOMEM;
  inb__results_init(r, n, slots);
  return 0;
}

void inb__results_close(inb_results *r) { inb__scratch_put(inb__results_release(r)); }
