/* A counter-based generator (see rng.h): each draw is a strong 64-bit mix of (key, counter), so any draw of any
 * stream is computed from its coordinates alone, with no state carried from item to item. */
#include <math.h>
#include <stdbool.h>

#include "jobs/rng.h"

/* The finaliser of SplitMix64: a bijection of 64 bits with full avalanche. */
static uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t key_of(uint64_t seed, uint64_t step, int64_t index, uint64_t purpose) {
  return mix(mix(mix(seed ^ 0x6a09e667f3bcc909ull) ^ (step * 0x9e3779b97f4a7c15ull)) ^ (uint64_t)index) ^ purpose;
}

inb__rng inb__rng_stream(uint64_t seed, uint64_t step, int64_t index) {
  return (inb__rng){.key = key_of(seed, step, index, 0), .counter = 0};
}

uint64_t inb__rng_next(inb__rng *r) { return mix(r->key + 0x9e3779b97f4a7c15ull * ++r->counter); }

double inb__rng_uniform(inb__rng *r) { return (double)(inb__rng_next(r) >> 11) * 0x1.0p-53; }

double inb__rng_normal(inb__rng *r) {
  double u = inb__rng_uniform(r), v = inb__rng_uniform(r);
  return sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v); /* 1 - u in (0, 1]: log is finite */
}

bool inb__rng_selected(uint64_t seed, uint64_t step, int64_t index, double p) {
  if (p >= 1) return true;
  uint64_t k = key_of(seed, step, index, 0x5e1ec7ull); /* not the item's stream: selecting draws nothing from it */
  return (double)(mix(k) >> 11) * 0x1.0p-53 < p;
}
