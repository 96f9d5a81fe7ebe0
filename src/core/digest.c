/* FNV-1a digests of call arguments (see digest.h). */
#define _GNU_SOURCE /* dladdr */
#include "core/digest.h"

#include <dlfcn.h>
#include <string.h>

uint64_t inb__digest_bytes(uint64_t h, const void *p, size_t n) {
  if (!h) h = 1469598103934665603ull;
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

uint64_t inb__digest_i64(uint64_t h, int64_t v) { return inb__digest_bytes(h, &v, sizeof v); }

uint64_t inb__digest_str(uint64_t h, const char *s) {
  h = inb__digest_i64(h, s ? (int64_t)strlen(s) : -1);
  return s ? inb__digest_bytes(h, s, strlen(s)) : h;
}

uint64_t inb__digest_fn(uint64_t h, void (*fn)(void)) {
  Dl_info info;
  if (!fn) return inb__digest_i64(h, -1);
  if (!dladdr((void *)fn, &info) || !info.dli_fname) return inb__digest_i64(h, -2); /* unknown: compares equal */
  const char *base = strrchr(info.dli_fname, '/');
  h = inb__digest_str(h, base ? base + 1 : info.dli_fname);
  return inb__digest_i64(h, (int64_t)((const char *)(void *)fn - (const char *)info.dli_fbase));
}
