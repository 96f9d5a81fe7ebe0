/* Internal: UTF-8 as the jobs layer checks it (job files, task files): text that reaches argv, messages and
 * HDF5 attributes must be valid UTF-8. */
#ifndef INB_JOBS_UTF8_H
#define INB_JOBS_UTF8_H

#include <stddef.h>

/* The length of the UTF-8 sequence starting p[0..n) (1 for ASCII), or 0 when it is not a valid one (cut short,
 * overlong, a surrogate, beyond U+10FFFF). n >= 1. */
size_t inb__utf8_len(const unsigned char *p, size_t n);

#endif
