/*
 * dist.c — MPI ranks as replicas (see dist.h).
 */
#include "dist/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Launched by an MPI launcher: the variables its processes are started with. */
static int launched(void)
{
	static const char *const vars[] = { "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK",
					    "PMI_SIZE", NULL };
	for (int i = 0; vars[i]; i++)
		if (getenv(vars[i]))
			return 1;
	const char *tasks = getenv("SLURM_NTASKS"); /* srun without a PMI plugin */
	return getenv("SLURM_STEP_ID") && tasks && atoi(tasks) > 1;
}

#ifdef BYOL_HAVE_MPI

#include <limits.h>
#include <mpi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

static int joined;
static int my_rank, local_ranks = 1;
static double stall_limit = DIST_STALL_SECONDS;
static _Atomic double entered; /* clock_seconds() when the current collective began; 0: none */
static atomic_int watching;
static pthread_t watchdog;
static double reduced_bytes, reduce_seconds; /* all-reduced so far, and the time it took */

static void fail_mpi(const char *what, int rc)
{
	char msg[MPI_MAX_ERROR_STRING + 64], text[MPI_MAX_ERROR_STRING];
	int len = 0;
	MPI_Error_string(rc, text, &len);
	snprintf(msg, sizeof msg, "%s failed: %.*s", what, len, text);
	dist_abort(&(struct replica){ .rank = my_rank, .n = 2 }, msg, 1);
}

/* Ends this rank when one collective has waited past the stall limit; mpirun then
   ends the job, as for any rank that exits without leaving MPI. MPI is not called
   from this thread (MPI_THREAD_SINGLE), and the main thread is left alone. */
static void *watch(void *arg)
{
	(void)arg;
	while (atomic_load(&watching)) {
		struct timespec ts = { .tv_sec = 1 };
		nanosleep(&ts, NULL);
		double t0 = atomic_load(&entered);
		if (t0 > 0 && clock_seconds() - t0 > stall_limit) {
			char msg[200];
			int n = snprintf(msg, sizeof msg, "byol-train: rank %d: a collective made no "
					 "progress for %.0f s (a rank died or hangs; "
					 "BYOL_MPI_TIMEOUT)\n", my_rank, stall_limit);
			if (write(STDERR_FILENO, msg, (size_t)n) < 0)
				_exit(1);
			_exit(1);
		}
	}
	return NULL;
}

static void allreduce(void *buf, size_t len, MPI_Datatype type, MPI_Op op, const char *what)
{
	const size_t chunk = 1u << 30; /* MPI counts are int */
	char *p = buf;
	int elem = 0;
	MPI_Type_size(type, &elem);
	const double t0 = clock_seconds();
	atomic_store(&entered, t0);
	for (size_t done = 0; done < len; done += chunk) {
		int n = (int)(len - done < chunk ? len - done : chunk);
		int rc = MPI_Allreduce(MPI_IN_PLACE, p + done * (size_t)elem, n, type, op,
				       MPI_COMM_WORLD);
		if (rc != MPI_SUCCESS)
			fail_mpi(what, rc);
	}
	atomic_store(&entered, 0.0);
	reduced_bytes += (double)len * elem;
	reduce_seconds += clock_seconds() - t0;
}

/* A barrier with no stall limit: the others wait while rank 0 alone evaluates. */
static void wait_all(void *ctx)
{
	(void)ctx;
	MPI_Request req;
	int rc = MPI_Ibarrier(MPI_COMM_WORLD, &req), done = 0;
	while (rc == MPI_SUCCESS && !done) {
		rc = MPI_Test(&req, &done, MPI_STATUS_IGNORE);
		if (!done)
			nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	if (rc != MPI_SUCCESS)
		fail_mpi("MPI_Ibarrier", rc);
}

static void sum_f64(void *ctx, double *buf, size_t len)
{
	(void)ctx;
	allreduce(buf, len, MPI_DOUBLE, MPI_SUM, "MPI_Allreduce (double sums)");
}

static void sum_f32(void *ctx, float *buf, size_t len)
{
	(void)ctx;
	allreduce(buf, len, MPI_FLOAT, MPI_SUM, "MPI_Allreduce (gradients)");
}

/* The gradient buckets in flight (start_sum_f32), oldest first. */
#define MAX_PENDING 256
static MPI_Request pending[MAX_PENDING];
static size_t pending_bytes[MAX_PENDING];
static int n_pending;

static void wait_sums(void *ctx)
{
	(void)ctx;
	if (n_pending == 0)
		return;
	const double t0 = clock_seconds();
	atomic_store(&entered, t0);
	int rc = MPI_Waitall(n_pending, pending, MPI_STATUSES_IGNORE);
	if (rc != MPI_SUCCESS)
		fail_mpi("MPI_Waitall (gradients)", rc);
	atomic_store(&entered, 0.0);
	for (int i = 0; i < n_pending; i++)
		reduced_bytes += (double)pending_bytes[i];
	reduce_seconds += clock_seconds() - t0;
	n_pending = 0;
}

static void start_sum_f32(void *ctx, float *buf, size_t len)
{
	if (len > INT_MAX || n_pending == MAX_PENDING) { /* too big for one count, or too many */
		wait_sums(ctx);
		sum_f32(ctx, buf, len);
		return;
	}
	const double t0 = clock_seconds();
	int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)len, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
				&pending[n_pending]);
	if (rc != MPI_SUCCESS)
		fail_mpi("MPI_Iallreduce (gradients)", rc);
	pending_bytes[n_pending++] = len * sizeof(float);
	reduce_seconds += clock_seconds() - t0;
}

/* Let the buckets in flight move on: MPI progresses them inside its calls. */
static void progress(void *ctx)
{
	(void)ctx;
	int done;
	const double t0 = clock_seconds();
	if (n_pending)
		MPI_Testall(n_pending, pending, &done, MPI_STATUSES_IGNORE);
	reduce_seconds += clock_seconds() - t0;
}

static int any(void *ctx, int flag)
{
	(void)ctx;
	int v = flag != 0;
	allreduce(&v, 1, MPI_INT, MPI_LOR, "MPI_Allreduce (stop flag)");
	return v;
}

static int same(void *ctx, uint64_t value)
{
	(void)ctx;
	uint64_t v[2] = { value, ~value }; /* max of ~x is ~min(x): all equal iff max = min */
	allreduce(v, 2, MPI_UINT64_T, MPI_MAX, "MPI_Allreduce (parameter check)");
	return v[0] == ~v[1];
}

int dist_init(struct replica *r, int *argc, char ***argv, struct err *e)
{
	*r = (struct replica){ .rank = 0, .n = 1 };
	if (!launched())
		return 0;
	if (MPI_Init(argc, argv) != MPI_SUCCESS)
		return err_set(e, ERR_IO, "MPI_Init failed");
	joined = 1;
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	MPI_Comm_rank(MPI_COMM_WORLD, &r->rank);
	MPI_Comm_size(MPI_COMM_WORLD, &r->n);
	my_rank = r->rank;
	MPI_Comm node;
	if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) ==
	    MPI_SUCCESS) {
		MPI_Comm_size(node, &local_ranks);
		MPI_Comm_free(&node);
	}
	const char *limit = getenv("BYOL_MPI_TIMEOUT");
	if (limit && atof(limit) > 0)
		stall_limit = atof(limit);
	if (r->n > 1) {
		r->sum_f64 = sum_f64;
		r->sum_f32 = sum_f32;
		r->start_sum_f32 = start_sum_f32;
		r->progress = progress;
		r->wait_sums = wait_sums;
		r->any = any;
		r->same = same;
		r->wait_all = wait_all;
		atomic_store(&watching, 1);
		if (pthread_create(&watchdog, NULL, watch, NULL) != 0)
			atomic_store(&watching, 0);
	}
	return 0;
}

int dist_local_ranks(void)
{
	return local_ranks;
}

void dist_traffic(double *bytes, double *seconds)
{
	*bytes = reduced_bytes;
	*seconds = reduce_seconds;
}

void dist_finish(void)
{
	if (!joined)
		return;
	if (atomic_exchange(&watching, 0))
		pthread_join(watchdog, NULL);
	MPI_Finalize();
	joined = 0;
}

void dist_abort(const struct replica *r, const char *msg, int code)
{
	fprintf(stderr, "byol-train: rank %d: %s\n", r ? r->rank : 0, msg);
	fflush(stderr);
	if (joined)
		MPI_Abort(MPI_COMM_WORLD, code);
	exit(code);
}

#else /* no MPI */

int dist_init(struct replica *r, int *argc, char ***argv, struct err *e)
{
	(void)argc, (void)argv;
	*r = (struct replica){ .rank = 0, .n = 1 };
	if (launched())
		return err_set(e, ERR_INVALID, "this byol-train was built without MPI: distributed "
			       "jobs are unavailable (install libopenmpi-dev and rebuild)");
	return 0;
}

int dist_local_ranks(void)
{
	return 1;
}

void dist_traffic(double *bytes, double *seconds)
{
	*bytes = *seconds = 0;
}

void dist_finish(void)
{
}

void dist_abort(const struct replica *r, const char *msg, int code)
{
	fprintf(stderr, "byol-train: rank %d: %s\n", r ? r->rank : 0, msg);
	exit(code);
}

#endif
