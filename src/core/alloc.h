/* Internal: every heap allocation of the library goes through these, so that a test can count what is
 * outstanding and fail any one allocation site on purpose (fault injection), and the same for MPI and HDF5 call
 * sites (INB__MPI, INB__H5 in the layers that make those calls). Off by default: then a site costs one relaxed
 * load and a predicted branch.
 *
 * A site is one place in the source: a static record made where the macro is expanded, keyed "file:line". */
#ifndef INB_CORE_ALLOC_H
#define INB_CORE_ALLOC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct inb__site {
  const char *file;
  int line;
  const char *what;          /* "malloc", "MPI_Send", "H5Dwrite", ... */
  _Atomic long hits;         /* hits since the last inb__fault_reset */
  _Atomic int listed;        /* in the list of sites reached */
  struct inb__site *next;
} inb__site;

/* Non-zero once a test called inb__fault_enable. */
extern _Atomic int inb__faults_on;

/* Counts the hit and says whether this hit must fail. Call through inb__fault. */
bool inb__fault_hit(inb__site *s);

static inline bool inb__fault(inb__site *s) {
  return __builtin_expect(atomic_load_explicit(&inb__faults_on, memory_order_relaxed), 0) && inb__fault_hit(s);
}

/* The record of the site where the macro is expanded. GNU statement expression: one static per expansion. */
#define INB__SITE(kind)                                                                                            \
  ({                                                                                                               \
    static inb__site inb__s_ = {__FILE__, __LINE__, kind, 0, 0, NULL};                                            \
    &inb__s_;                                                                                                      \
  })

/* The allocators: like malloc, calloc, realloc and strdup (NULL when out of memory, or when the site is made to
 * fail), counted while faults are on. Free what they return with inb__free, nothing else. */
void *inb__malloc_at(inb__site *s, size_t n);
void *inb__calloc_at(inb__site *s, size_t n, size_t size);
void *inb__realloc_at(inb__site *s, void *p, size_t n);
char *inb__strdup_at(inb__site *s, const char *str);
void inb__free(void *p);

#define inb__malloc(n) inb__malloc_at(INB__SITE("malloc"), (n))
#define inb__calloc(n, size) inb__calloc_at(INB__SITE("calloc"), (n), (size))
#define inb__realloc(p, n) inb__realloc_at(INB__SITE("realloc"), (p), (n))
#define inb__strdup(str) inb__strdup_at(INB__SITE("strdup"), (str))

/* Counts an allocation made some other way (the block cache's mmap), or its release. */
void inb__alloc_counted(void);
void inb__alloc_uncounted(void);

/* p (from the allocators above) now belongs to the caller of the library, who frees it with free() (a batch's
 * taken component): it no longer counts as outstanding. NULL-safe. */
void inb__alloc_disown(void *p);

/* ---- the test's side (the library itself never calls these) ------------------------------------------ */

/* Starts counting and lets sites be armed. Call before any other library call of the process. */
void inb__fault_enable(void);

/* Makes the nth hit (1 = the next one) of the site keyed "file:line" fail; key NULL disarms. */
void inb__fault_arm(const char *key, long nth);

/* True when the armed site has failed since it was armed. */
bool inb__fault_fired(void);

/* The library's allocations outstanding now. */
long inb__fault_live(void);

/* The sites reached since faults were enabled: their number, and the key ("file:line") and kind of site i
 * (static strings; i < the number, else NULL). The key's buffer is the caller's (>= 64 bytes). */
size_t inb__fault_nsites(void);
const char *inb__fault_site(size_t i, char *key, size_t cap, const char **what);

#endif
