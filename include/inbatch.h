/* inbatch: batchflow's within-batch parallelism (@inbatch_parallel), in C, for MPI clusters.
 * The public API; its contract is written next to each prototype in the headers below. */
#ifndef INBATCH_H
#define INBATCH_H

#include <inbatch/core.h>
#include <inbatch/run.h>
#include <inbatch/mpi.h>
#include <inbatch/h5.h>

#define INBATCH_VERSION_MAJOR 0
#define INBATCH_VERSION_MINOR 1
#define INBATCH_VERSION_PATCH 0

#endif
