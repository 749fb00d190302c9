/*
 * launch.c — a job over MPI ranks, run as a child `mpirun … byol-train --jsonl`
 * (see launch.h).
 */
#include "engine/launch.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic_file.h"
#include "clock.h"
#include "event.h"
#include "nn/pool.h"

#define MAX_ARGS 40

const char *const launch_files[] = { "job-spec.json", "spec.json", "metrics.jsonl", NULL };
/* What asks every rank to checkpoint and stop: mpirun and srun forward SIGUSR1 to
   their ranks at once, but answer SIGTERM by ending the job (mpirun's ranks get
   SIGTERM and SIGKILL a second apart, too soon for a step and a checkpoint). */
#define STOP_SIGNAL SIGUSR1
#define STOP_GRACE_S 120.0 /* after STOP_SIGNAL, the ranks' checkpoint may take this long */

/* byol-train beside this executable (byold and byol-train install together). */
static int train_binary(char *out, size_t cap, struct err *e)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return err_set(e, ERR_IO, "cannot find byold's own path: %s", strerror(errno));
	self[n] = 0;
	char *slash = strrchr(self, '/');
	*slash = 0;
	if ((size_t)snprintf(out, cap, "%s/byol-train", self) >= cap)
		return err_set(e, ERR_IO, "byold's path is too long");
	if (access(out, X_OK) != 0)
		return err_set(e, ERR_IO, "%s: %s (distributed jobs run it)", out, strerror(errno));
	return 0;
}

struct argv {
	char *v[MAX_ARGS + 1];
	char store[MAX_ARGS][64]; /* numbers */
	int n;
};

static void add(struct argv *a, const char *s)
{
	if (a->n < MAX_ARGS)
		a->v[a->n++] = (char *)s;
	a->v[a->n] = NULL;
}

static void add_int(struct argv *a, const char *fmt, int v)
{
	snprintf(a->store[a->n], sizeof a->store[0], fmt, v);
	add(a, a->store[a->n]);
}

int launch_check(const struct spec *s, struct err *e)
{
	const int ranks = s->distributed.ranks, local = launch_local_ranks(s);
	if (s->distributed.hostfile[0])
		return err_set(e, ERR_INVALID, "distributed.hostfile: byold reads no file a client "
			       "names; give distributed.hosts (HOST or HOST:SLOTS)");
	if (s->train.batch_size % ranks)
		return err_set(e, ERR_INVALID, "train.batch_size %d does not split evenly over %d "
			       "ranks", s->train.batch_size, ranks);
	if (local > pool_cores())
		return err_set(e, ERR_INVALID, "distributed.ranks %d on this host of %d cores: give "
			       "distributed.hosts to place them", local, pool_cores());
	return 0;
}

/* Ranks on this host: all of them unless hosts spread them. */
int launch_local_ranks(const struct spec *s)
{
	return s->distributed.hosts[0] || s->distributed.hostfile[0] ? 1 : s->distributed.ranks;
}

/* The launcher's command line: mpirun or srun, then byol-train on spec_path. */
static void command(struct argv *a, const struct spec *s, const char *train, const char *spec_path,
		    const struct engine_options *o, int threads)
{
	const int ranks = s->distributed.ranks;
	if (strcmp(s->distributed.launcher, "srun") == 0) {
		add(a, "srun");
		add_int(a, "--ntasks=%d", ranks);
	} else {
		add(a, "mpirun");
		if (geteuid() == 0)
			add(a, "--allow-run-as-root");
		add(a, "-np");
		add_int(a, "%d", ranks);
		if (s->distributed.hosts[0]) {
			add(a, "--host");
			add(a, s->distributed.hosts);
		}
		add(a, "--bind-to");
		add(a, "none");
	}
	add(a, train);
	add(a, spec_path);
	add(a, "--jsonl");
	add(a, "--out");
	add(a, o->checkpoint_dir);
	add(a, "--checkpoint-dir");
	add(a, o->checkpoint_dir);
	add(a, "--set");
	add_int(a, "threads=%d", threads);
	if (o->resume) {
		add(a, "--resume");
		add(a, o->resume);
	}
}

/* In the child between fork and exec: only async-signal-safe calls. */
static void exec_child(const struct argv *a, int out_fd, int err_fd)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL); /* byold's threads block signals */
	signal(SIGPIPE, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	/* byold gone (even kill -9): the launcher ends its ranks within seconds, before
	   the recovered job starts again from its last checkpoint */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	setpgid(0, 0);
	dup2(out_fd, STDOUT_FILENO);
	dup2(err_fd, STDERR_FILENO);
	int null = open("/dev/null", O_RDONLY);
	if (null >= 0)
		dup2(null, STDIN_FILENO);
	close_range(3, ~0U, 0); /* byold's own files (its state lock among them) stay behind */
	execvp(a->v[0], a->v);
	_exit(127);
}

/* Lines read so far from one of the child's pipes. */
struct lines {
	int fd;
	char buf[1 << 16];
	size_t len;
};

struct child {
	const struct engine_hooks *h;
	struct engine_result *r;
	const char *dir;   /* the job's checkpoint directory */
	long step;
	int epoch;
	int stopping;      /* STOP_SIGNAL sent */
	int stopped_ckpt;  /* a checkpoint written after it */
	int completed;     /* rank 0 said "byol-train: done:" (training and evaluations ended) */
	char last_error[256];
};

static void emit(struct child *c, cJSON *ev)
{
	if (ev && c->h && c->h->event)
		c->h->event(c->h->ctx, ev);
	cJSON_Delete(ev);
}

/* The result byol-train's events tell: progress, losses, evaluations, checkpoints. */
static void note_event(struct child *c, const cJSON *ev)
{
	const cJSON *type = cJSON_GetObjectItem(ev, "event");
	const cJSON *step = cJSON_GetObjectItem(ev, "step"), *epoch = cJSON_GetObjectItem(ev, "epoch");
	if (!cJSON_IsString(type))
		return;
	if (cJSON_IsNumber(step) && step->valuedouble > (double)c->step)
		c->step = c->r->step = (long)step->valuedouble;
	if (cJSON_IsNumber(epoch))
		c->epoch = (int)epoch->valuedouble;
	const char *t = type->valuestring;
	const cJSON *v;
	if (strcmp(t, "epoch") == 0 && cJSON_IsNumber(v = cJSON_GetObjectItem(ev, "loss")))
		c->r->final_loss = v->valuedouble;
	if (strcmp(t, "checkpoint") == 0 && cJSON_IsString(v = cJSON_GetObjectItem(ev, "path"))) {
		snprintf(c->r->checkpoint, sizeof c->r->checkpoint, "%s", v->valuestring);
		c->stopped_ckpt |= c->stopping;
	}
	if (strcmp(t, "eval") == 0) {
		const cJSON *kind = cJSON_GetObjectItem(ev, "kind");
		const cJSON *top1 = cJSON_GetObjectItem(ev, "top1"), *top5 = cJSON_GetObjectItem(ev, "top5");
		int linear = cJSON_IsString(kind) && strcmp(kind->valuestring, "linear") == 0;
		if (cJSON_IsNumber(top1))
			*(linear ? &c->r->top1 : &c->r->knn_top1) = top1->valuedouble;
		if (linear && cJSON_IsNumber(top5))
			c->r->top5 = top5->valuedouble;
	}
}

/* A path the child names is a file of the job's directory, nothing else. */
static int in_dir(const struct child *c, const cJSON *path)
{
	size_t n = strlen(c->dir);
	return cJSON_IsString(path) && strncmp(path->valuestring, c->dir, n) == 0 &&
	       path->valuestring[n] == '/' && !strchr(path->valuestring + n + 1, '/');
}

/* Whether ev is an event byol-train emits, as byold may store it: its own kinds only,
   no ids of byold's, checkpoint files inside the job's directory. */
static int acceptable(const struct child *c, cJSON *ev)
{
	static const char *const kinds[] = { "step", "epoch", "checkpoint", "eval", "log", NULL };
	const cJSON *type = cJSON_GetObjectItem(ev, "event");
	int known = 0;
	for (int i = 0; cJSON_IsString(type) && kinds[i]; i++)
		known |= strcmp(type->valuestring, kinds[i]) == 0;
	if (!known)
		return 0;
	cJSON_DeleteItemFromObject(ev, "eval_id");
	cJSON_DeleteItemFromObject(ev, "checkpoint_id");
	cJSON_DeleteItemFromObject(ev, "job_id");
	const cJSON *removed = cJSON_GetObjectItem(ev, "removed");
	return strcmp(type->valuestring, "checkpoint") != 0 ||
	       (in_dir(c, cJSON_GetObjectItem(ev, "path")) && (!removed || in_dir(c, removed)));
}

/* One line of the child: an event from stdout, a log line from stderr. */
static void on_line(struct child *c, char *line, int is_err)
{
	if (!line[0])
		return;
	if (!is_err) {
		cJSON *ev = cJSON_Parse(line);
		if (ev && cJSON_IsObject(ev) && acceptable(c, ev)) {
			note_event(c, ev);
			emit(c, ev);
			return;
		}
		cJSON_Delete(ev);
	}
	if (is_err && strncmp(line, "byol-train: done:", 17) == 0)
		c->completed = 1;
	if (is_err && strncmp(line, "byol-train: ", 12) == 0) /* not mpirun's banners */
		snprintf(c->last_error, sizeof c->last_error, "%s", line);
	cJSON *ev = event_new("log", c->step, c->epoch);
	cJSON_AddStringToObject(ev, "level", is_err ? "info" : "warning");
	cJSON_AddStringToObject(ev, "message", line);
	emit(c, ev);
}

/* The ranks ended without the checkpoint of the stop: it goes on from an older one. */
static void log_stop_without_checkpoint(struct child *c)
{
	cJSON *ev = event_new("log", c->step, c->epoch);
	cJSON_AddStringToObject(ev, "level", "warning");
	cJSON_AddStringToObject(ev, "message", "the ranks stopped without a checkpoint at the stop; "
				"the job resumes from its last checkpoint");
	emit(c, ev);
}

/* Read what is there; hand over each complete line (a line too long is cut). 0 at EOF. */
static int drain(struct child *c, struct lines *l, int is_err)
{
	ssize_t n = read(l->fd, l->buf + l->len, sizeof l->buf - 1 - l->len);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0) {
		l->buf[l->len] = 0;
		on_line(c, l->buf, is_err);
		l->len = 0;
		return 0;
	}
	l->len += (size_t)n;
	char *start = l->buf, *nl;
	while ((nl = memchr(start, '\n', l->len - (size_t)(start - l->buf)))) {
		*nl = 0;
		on_line(c, start, is_err);
		start = nl + 1;
	}
	l->len -= (size_t)(start - l->buf);
	memmove(l->buf, start, l->len);
	if (l->len == sizeof l->buf - 1) { /* no newline in 64 KiB */
		l->buf[l->len] = 0;
		on_line(c, l->buf, is_err);
		l->len = 0;
	}
	return 1;
}

/* Pump both pipes until they close; signal the launcher once a stop is asked, and
   kill its process group if it outstays the grace period. */
static void supervise(struct child *c, pid_t pid, struct lines *out, struct lines *err,
		      const atomic_int *stop)
{
	int open_fds = 2;
	double term_at = 0;
	struct pollfd p[2] = { { .fd = out->fd, .events = POLLIN }, { .fd = err->fd, .events = POLLIN } };
	while (open_fds > 0) {
		if (stop && atomic_load(stop) && term_at == 0) {
			kill(pid, STOP_SIGNAL);
			term_at = clock_seconds();
			c->stopping = 1;
		}
		if (term_at > 0 && clock_seconds() - term_at > STOP_GRACE_S)
			kill(-pid, SIGKILL);
		if (term_at > 0 && clock_seconds() - term_at > STOP_GRACE_S + 10)
			break; /* a descendant outside the group holds the pipes: stop reading */
		if (poll(p, 2, 200) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++)
			if (p[i].fd >= 0 && (p[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    !drain(c, i ? err : out, i)) {
				close(p[i].fd);
				p[i].fd = -1;
				open_fds--;
			}
	}
	for (int i = 0; i < 2; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
}

static int write_text(int fd, void *ctx)
{
	const char *text = ctx;
	return atomic_write_all(fd, text, strlen(text));
}

int engine_run_mpi(const struct spec *s, const char *spec_json, const struct engine_options *o,
		   const struct engine_hooks *h, struct engine_result *r, struct err *e)
{
	memset(r, 0, sizeof *r);
	r->top1 = r->top5 = r->knn_top1 = -1;
	r->final_loss = NAN;
	char train[PATH_MAX], spec_path[4200];
	if (train_binary(train, sizeof train, e))
		return e->code;
	if (mkdir(o->checkpoint_dir, 0755) != 0 && errno != EEXIST)
		return err_set(e, ERR_IO, "%s: %s", o->checkpoint_dir, strerror(errno));
	snprintf(spec_path, sizeof spec_path, "%s/job-spec.json", o->checkpoint_dir);
	if (atomic_file_write(spec_path, 0644, write_text, (void *)spec_json, e))
		return e->code;
	if (launch_check(s, e))
		return e->code;
	const int local = launch_local_ranks(s);
	const int threads = s->threads > local ? s->threads / local : 1;
	struct argv a = { 0 };
	command(&a, s, train, spec_path, o, threads);
	int out_pipe[2], err_pipe[2];
	if (pipe2(out_pipe, O_CLOEXEC) != 0)
		return err_set(e, ERR_IO, "pipe: %s", strerror(errno));
	if (pipe2(err_pipe, O_CLOEXEC) != 0) {
		close(out_pipe[0]), close(out_pipe[1]);
		return err_set(e, ERR_IO, "pipe: %s", strerror(errno));
	}
	pid_t pid = fork();
	if (pid == 0)
		exec_child(&a, out_pipe[1], err_pipe[1]);
	close(out_pipe[1]);
	close(err_pipe[1]);
	if (pid > 0)
		setpgid(pid, pid); /* as the child does: either order, the group exists for kill */
	if (pid < 0) {
		close(out_pipe[0]), close(err_pipe[0]);
		return err_set(e, ERR_IO, "fork: %s", strerror(errno));
	}
	struct lines *lo = malloc(sizeof *lo), *le = malloc(sizeof *le); /* 64 KiB: off the stack */
	struct child c = { .h = h, .r = r, .dir = o->checkpoint_dir };
	if (lo && le) {
		lo->fd = out_pipe[0], lo->len = 0;
		le->fd = err_pipe[0], le->len = 0;
		supervise(&c, pid, lo, le, h ? h->stop : NULL);
	} else {
		kill(-pid, SIGKILL);
		close(out_pipe[0]), close(err_pipe[0]);
	}
	free(lo);
	free(le);
	int status = 0;
	pid_t w;
	while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (w < 0)
		return err_set(e, ERR_IO, "waitpid: %s", strerror(errno));
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && c.completed) {
		r->state = ENGINE_COMPLETED;
		return 0;
	}
	if (c.stopping) { /* mpirun exits 1 after forwarding a signal, however the ranks ended */
		if (!c.stopped_ckpt)
			log_stop_without_checkpoint(&c);
		if (!r->checkpoint[0] && o->resume) /* stopped before its first checkpoint */
			snprintf(r->checkpoint, sizeof r->checkpoint, "%s", o->resume);
		if (!r->checkpoint[0])
			return err_set(e, ERR_IO, "the job stopped before its first checkpoint");
		r->state = ENGINE_STOPPED;
		return 0;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		return err_set(e, ERR_IO, "%s: cannot run it (not installed?)", a.v[0]);
	return err_set(e, ERR_IO, "the %d-rank job failed (%s %d): %s", s->distributed.ranks,
		       WIFEXITED(status) ? "exit status" : "signal",
		       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
		       c.last_error[0] ? c.last_error : "no message");
}
