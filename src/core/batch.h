/* Internal: direct access to a batch's item indices, for the engine's per-task hot path. */
#ifndef INB_CORE_BATCH_H
#define INB_CORE_BATCH_H

#include <inbatch/core.h>

/* The batch's n indices, owned by the batch (valid until it is freed). */
const int64_t *inb__batch_indices(const inb_batch *b);

#endif
