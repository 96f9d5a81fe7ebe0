/* A small cache of large blocks (see scratch.h). Each block carries its capacity in a 16-byte header. */
#include "engine/scratch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { KEEP = 8, HEAD = 16 };

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static void *kept[KEEP]; /* headers of free blocks */

static size_t cap_of(void *head) { return *(size_t *)head; }

void *inb__scratch_get(size_t n, int zero) {
  void *head = NULL;
  pthread_mutex_lock(&mu);
  for (int k = 0; k < KEEP && !head; k++)
    if (kept[k] && cap_of(kept[k]) >= n && cap_of(kept[k]) / 4 <= n + 4096) { /* big enough, not wasteful */
      head = kept[k];
      kept[k] = NULL;
    }
  pthread_mutex_unlock(&mu);
  if (!head) {
    head = malloc(HEAD + (n ? n : 1));
    if (!head) return NULL;
    *(size_t *)head = n ? n : 1;
  }
  void *p = (char *)head + HEAD;
  if (zero) memset(p, 0, n);
  return p;
}

void inb__scratch_put(void *p) {
  if (!p) return;
  void *head = (char *)p - HEAD;
  pthread_mutex_lock(&mu);
  int slot = -1;
  for (int k = 0; k < KEEP && slot < 0; k++)
    if (!kept[k]) slot = k;
  if (slot < 0) { /* full: replace the smallest if this one is larger */
    slot = 0;
    for (int k = 1; k < KEEP; k++)
      if (cap_of(kept[k]) < cap_of(kept[slot])) slot = k;
    if (cap_of(kept[slot]) < cap_of(head)) {
      void *old = kept[slot];
      kept[slot] = head;
      head = old;
    }
  } else {
    kept[slot] = head;
    head = NULL;
  }
  pthread_mutex_unlock(&mu);
  free(head);
}
