/*
 * dist.h — one byol-train job over MPI ranks (mpirun, srun): the replica.h
 * seam made real.
 *
 * dist_init joins the MPI job the process was launched in, if any (Open MPI's
 * mpirun, Slurm's srun, any PMI launcher); started alone, it stays a single
 * process without touching MPI. Sums are MPI_Allreduce over MPI_COMM_WORLD.
 * An MPI failure, or a collective that makes no progress for the stall
 * timeout (a rank died or hangs), prints which rank saw it and aborts the
 * whole job: no rank is left waiting in a collective.
 *
 * A build without MPI (no ompi-c at build time) knows when it was launched
 * by mpirun and refuses to start.
 */
#ifndef BYOL_DIST_DIST_H
#define BYOL_DIST_DIST_H

#include "err.h"
#include "nn/replica.h"

/* Seconds a collective may wait before the job is aborted (BYOL_MPI_TIMEOUT). */
#define DIST_STALL_SECONDS 600

/* Fill r: rank and count, and the MPI collectives when there are several. */
int dist_init(struct replica *r, int *argc, char ***argv, struct err *e);
/* Ranks of the job on this host (1 when alone): they share its cores. */
int dist_local_ranks(void);
/* Bytes this rank has all-reduced so far, and the seconds it spent in those
   collectives (waiting for the others included). */
void dist_traffic(double *bytes, double *seconds);
/* Leave MPI (a no-op when dist_init did not join it). */
void dist_finish(void);
/* Print "byol-train: rank R: msg" and end every rank of the job with code. */
void dist_abort(const struct replica *r, const char *msg, int code);

#endif
