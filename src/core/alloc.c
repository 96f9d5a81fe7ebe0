/* Counted, failable allocations and the registry of sites (see alloc.h). */
#include "core/alloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Atomic int inb__faults_on;
static _Atomic long live;                /* allocations outstanding (counted while faults are on) */
static _Atomic(inb__site *) reached;     /* sites hit since faults were enabled, newest first */
static pthread_mutex_t armed_mu = PTHREAD_MUTEX_INITIALIZER;
static char armed_key[256];              /* "" = nothing armed */
static long armed_nth, armed_seen;
static _Atomic int fired;

static void list_site(inb__site *s) {
  int expect = 0;
  if (!atomic_compare_exchange_strong(&s->listed, &expect, 1)) return;
  s->next = atomic_load(&reached);
  while (!atomic_compare_exchange_weak(&reached, &s->next, s)) {
  }
}

static bool same_key(const inb__site *s, const char *key) {
  const char *colon = strrchr(key, ':');
  if (!colon || atoi(colon + 1) != s->line) return false;
  size_t n = (size_t)(colon - key);
  return strlen(s->file) == n && strncmp(s->file, key, n) == 0;
}

bool inb__fault_hit(inb__site *s) {
  list_site(s);
  atomic_fetch_add(&s->hits, 1);
  bool fail = false;
  pthread_mutex_lock(&armed_mu);
  if (armed_key[0] && same_key(s, armed_key) && ++armed_seen == armed_nth) fail = true;
  pthread_mutex_unlock(&armed_mu);
  if (fail) atomic_store(&fired, 1);
  return fail;
}

static void *counted(void *p) {
  if (p && atomic_load_explicit(&inb__faults_on, memory_order_relaxed)) atomic_fetch_add(&live, 1);
  return p;
}

void *inb__malloc_at(inb__site *s, size_t n) { return inb__fault(s) ? NULL : counted(malloc(n)); }
void *inb__calloc_at(inb__site *s, size_t n, size_t size) { return inb__fault(s) ? NULL : counted(calloc(n, size)); }
char *inb__strdup_at(inb__site *s, const char *str) { return inb__fault(s) ? NULL : counted(strdup(str)); }

void *inb__realloc_at(inb__site *s, void *p, size_t n) {
  if (inb__fault(s)) return NULL;
  void *q = realloc(p, n);
  return p ? q : counted(q); /* moving a block changes nothing outstanding */
}

void inb__free(void *p) {
  if (p && atomic_load_explicit(&inb__faults_on, memory_order_relaxed)) atomic_fetch_sub(&live, 1);
  free(p);
}

void inb__alloc_counted(void) {
  if (atomic_load_explicit(&inb__faults_on, memory_order_relaxed)) atomic_fetch_add(&live, 1);
}

void inb__alloc_uncounted(void) {
  if (atomic_load_explicit(&inb__faults_on, memory_order_relaxed)) atomic_fetch_sub(&live, 1);
}

void inb__alloc_disown(void *p) {
  if (p) inb__alloc_uncounted();
}

void inb__fault_enable(void) { atomic_store(&inb__faults_on, 1); }

void inb__fault_arm(const char *key, long nth) {
  pthread_mutex_lock(&armed_mu);
  snprintf(armed_key, sizeof armed_key, "%s", key ? key : "");
  armed_nth = nth;
  armed_seen = 0;
  atomic_store(&fired, 0);
  pthread_mutex_unlock(&armed_mu);
}

bool inb__fault_fired(void) { return atomic_load(&fired) != 0; }

long inb__fault_live(void) { return atomic_load(&live); }

size_t inb__fault_nsites(void) {
  size_t n = 0;
  for (inb__site *s = atomic_load(&reached); s; s = s->next) n++;
  return n;
}

const char *inb__fault_site(size_t i, char *key, size_t cap, const char **what) {
  inb__site *s = atomic_load(&reached);
  for (; s && i; i--) s = s->next;
  if (!s) return NULL;
  snprintf(key, cap, "%s:%d", s->file, s->line);
  if (what) *what = s->what;
  return key;
}
