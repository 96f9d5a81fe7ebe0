/* inbatch and MPI: helpers for programs that let the library start and stop MPI.
 * A program that initialises MPI itself needs neither: inb_run with INB_MPI uses the MPI it finds (and
 * initialises it, with MPI_THREAD_MULTIPLE, if nobody has). */
#ifndef INBATCH_MPI_H
#define INBATCH_MPI_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#pragma GCC visibility push(default) /* the library exports exactly what its headers declare */
#endif

/* Initialises MPI with MPI_Init_thread(MPI_THREAD_MULTIPLE) unless it already is. argc/argv may be NULL.
 * Call from the thread that will call MPI_Finalize (usually main). Returns 0 or INB_EMPI (inb_errmsg()).
 * The library runs with whatever thread level MPI provides (here or in a program's own MPI_Init_thread):
 * below MPI_THREAD_MULTIPLE on rank 0, inb_h5_run under mpi uses the static schedule on every rank (the dynamic
 * one reads rows on a second thread of rank 0); below it on any rank, max_failures under mpi is refused with
 * INB_EINVAL on every rank (its notices travel on a thread of their own). */
int inb_mpi_init(int *argc, char ***argv);

/* Finalises MPI if it is initialised and not yet finalised (collective, like MPI_Finalize). The engine's
 * duplicate communicators are freed with it. Returns 0 or INB_EMPI. */
int inb_mpi_finalize(void);

/* The calling process's rank in MPI_COMM_WORLD, or 0 when MPI is not initialised. */
int inb_mpi_rank(void);

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif
