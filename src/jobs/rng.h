/* Internal: random numbers for job steps that are the same whatever the rank count, the schedule or the thread
 * an item runs on: a counter-based generator keyed by the job's seed, the step's position and the item's index.
 * Each (seed, step, item) has a stream of its own, and which items a step selects (`p`) is a function of them
 * too, so outputs are bit-identical between 1 rank, 2 ranks static and 2 ranks dynamic. */
#ifndef INB_JOBS_RNG_H
#define INB_JOBS_RNG_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
  uint64_t key;      /* seed, step and item, mixed */
  uint64_t counter;  /* draws made */
} inb__rng;

/* The stream of item `index` of step `step` of a job seeded `seed`. */
inb__rng inb__rng_stream(uint64_t seed, uint64_t step, int64_t index);

/* The next 64 random bits; a double uniform in [0, 1); a standard normal (Box-Muller, two draws). */
uint64_t inb__rng_next(inb__rng *r);
double inb__rng_uniform(inb__rng *r);
double inb__rng_normal(inb__rng *r);

/* Whether item `index` takes part in step `step` when the step applies to a share p of the items: a draw of its
 * own (not of the item's stream), u < p. */
bool inb__rng_selected(uint64_t seed, uint64_t step, int64_t index, double p);

#endif
