/*
 * launch.h — a job over MPI ranks (spec "distributed"), run by byold as a child
 * `mpirun … byol-train SPEC --jsonl` (or srun) whose event stream feeds the
 * same hooks as engine_run: the same events, state and results as a local job.
 *
 * The spec goes to CHECKPOINT_DIR/job-spec.json; rank 0 writes the checkpoints and
 * byol-train's spec.json and metrics.jsonl there too. Each line the child prints
 * on stdout is an event; each line on stderr becomes a "log" event of the job.
 * A stop (hooks->stop) is SIGTERM to the launcher, which forwards it: every
 * rank stops at the same step and rank 0 writes the checkpoint; a launcher
 * still running STOP_GRACE_S later is killed with its process group. If byold
 * itself dies, the kernel sends the launcher SIGTERM (PR_SET_PDEATHSIG).
 */
#ifndef BYOL_ENGINE_LAUNCH_H
#define BYOL_ENGINE_LAUNCH_H

#include "engine/engine.h"

/* The files a distributed job keeps beside its checkpoints, NULL-terminated. */
extern const char *const launch_files[];

/* Whether byold can run s over its ranks: no hostfile (byold reads no file a
   client names), a batch that splits, no more ranks on this host than cores. */
int launch_check(const struct spec *s, struct err *e);

/* Ranks the job runs on this host (their cores count in byold's budget). */
int launch_local_ranks(const struct spec *s);

/* engine_run for s->distributed.ranks > 1; s->threads is the cores of all local ranks. */
int engine_run_mpi(const struct spec *s, const char *spec_json, const struct engine_options *o,
		   const struct engine_hooks *h, struct engine_result *r, struct err *e);

#endif
