/*
 * byol_train.c — byol-train: one BYOL job in the foreground (byol-train(1)).
 *
 *   byol-train SPEC.json|PRESET [--set k=v]... [--out DIR] [--jsonl] [--resume CKPT]
 *              [--print-spec]
 *   byol-train --bench SPEC|PRESET --steps N [--profile] [--set k=v]...
 *
 * --bench times N training steps on random views; --profile adds one JSON line
 * per layer (online and target nets summed, per step) and per non-layer pass.
 *
 * --eval-only runs the end-of-training evaluations (kNN and the linear probe)
 * on the starting weights instead of training: the random initialisation, the
 * baseline BYOL must beat, or with --resume any checkpoint.
 *
 * --out (default ./runs/<name>-<time>, made with its parents) receives spec.json,
 * metrics.jsonl (every event) and checkpoints/ (or --checkpoint-dir). Progress is
 * a line per event on stderr, for people; with --jsonl the events go to stdout
 * one per line instead. Ctrl-C writes a checkpoint and stops. Exit status as
 * byolctl's: 0 done (or stopped cleanly), 1 the job failed, 64 usage, 65 bad
 * spec, 66 an unreadable spec file or checkpoint, 73 no run directory.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "byol/model.h"
#include "clock.h"
#include "dist/dist.h"
#include "engine/engine.h"
#include "nn/blas.h"
#include "nn/profile.h"
#include "rng.h"
#include "json_text.h"
#include "spec.h"

/* The exit codes byolctl gives for the same failures (byolctl(1)). */
#define EXIT_FAILED 1
#define EXIT_USAGE 64
#define EXIT_BAD_SPEC 65
#define EXIT_NOT_FOUND 66  /* the spec file or --resume checkpoint cannot be read */
#define EXIT_CANTCREAT 73  /* the run directory cannot be made */
#define MAX_SETS 256

struct args {
	const char *source; /* spec file or preset */
	const char *sets[MAX_SETS];
	int n_sets;
	const char *out, *resume, *checkpoint_dir;
	int jsonl, print_spec, bench, profile, eval_only;
	long steps;
};

static atomic_int stop_requested; /* lock-free, so the signal handler may set it */

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* SIGINT, SIGTERM and SIGUSR1 all mean "checkpoint and stop". SIGUSR1 is the one
   mpirun forwards to every rank at once (it answers SIGTERM by SIGCONT, then
   SIGTERM and SIGKILL odls_base_sigkill_timeout seconds apart); Slurm's
   --signal=USR1@T uses it too. */
static void catch_stop_signals(void)
{
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_signal);
}

#define USAGE \
	"usage: byol-train SPEC.json|PRESET [--set k=v]... [--out DIR] [--jsonl]\n" \
	"                  [--resume CKPT] [--checkpoint-dir DIR] [--print-spec] [--eval-only]\n" \
	"       byol-train --bench SPEC|PRESET --steps N [--profile] [--set k=v]...\n" \
	"       byol-train --help\n"

static int usage(const char *problem)
{
	if (problem)
		fprintf(stderr, "byol-train: %s\n", problem);
	fprintf(stderr, USAGE "Run byol-train --help for what they mean.\n");
	return EXIT_USAGE;
}

static int help(void)
{
	printf(USAGE "\n"
	       "Train one BYOL job in the foreground: a spec file, or a preset (fmnist-quick,\n"
	       "fmnist-convnet), with --set overrides (train.epochs=5; byol-spec(5)).\n\n"
	       "  --set KEY=VALUE      override one spec key (VALUE is JSON, or else text)\n"
	       "  --out DIR            the run directory (made with its parents); default\n"
	       "                       runs/NAME-TIME: spec.json, metrics.jsonl, checkpoints/\n"
	       "  --jsonl              every event as a JSON line on standard output\n"
	       "  --resume CKPT        continue from a checkpoint exactly\n"
	       "  --checkpoint-dir DIR checkpoints there instead of DIR/checkpoints\n"
	       "  --print-spec         print the resolved spec and exit\n"
	       "  --eval-only          only the final evaluations, on the starting weights\n"
	       "                       (the random initialisation, or --resume's)\n"
	       "  --bench --steps N    time N steps on random views (--profile: per layer)\n\n"
	       "Progress goes to standard error, one line per logged step. Ctrl-C, SIGTERM or\n"
	       "SIGUSR1 writes a checkpoint and stops. Under mpirun or srun the job runs on\n"
	       "every rank (train.batch_size is the global batch).\n"
	       "Exit status: 0 done or stopped cleanly, 1 the job failed, 64 usage, 65 bad\n"
	       "spec, 66 a spec file or checkpoint that cannot be read, 73 no run directory.\n"
	       "See byol-train(1) and byol-spec(5).\n");
	return 0;
}

/* What is wrong with an argument parse_args could not take. */
static int bad_argument(const char *s, int has_value)
{
	char problem[300], padded[256];
	snprintf(padded, sizeof padded, " %s ", s);
	if (s[0] != '-')
		return usage("one spec or preset only");
	if (!has_value && strstr(" --set --out --resume --checkpoint-dir --steps ", padded))
		snprintf(problem, sizeof problem, "%s needs a value", s);
	else if (strcmp(s, "--set") == 0)
		snprintf(problem, sizeof problem, "more than %d --set", MAX_SETS);
	else
		snprintf(problem, sizeof problem, "unknown option %s", s);
	return usage(problem);
}

/* The options; 0, 1 for --help, or the usage error's exit code (after saying it). */
static int parse_args(struct args *a, int argc, char **argv)
{
	memset(a, 0, sizeof *a);
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0)
			return 1;
		if (strcmp(s, "--set") == 0 && v && a->n_sets < MAX_SETS)
			a->sets[a->n_sets++] = argv[++i];
		else if (strcmp(s, "--out") == 0 && v)
			a->out = argv[++i];
		else if (strcmp(s, "--resume") == 0 && v)
			a->resume = argv[++i];
		else if (strcmp(s, "--checkpoint-dir") == 0 && v)
			a->checkpoint_dir = argv[++i];
		else if (strcmp(s, "--steps") == 0 && v)
			a->steps = atol(argv[++i]);
		else if (strcmp(s, "--jsonl") == 0)
			a->jsonl = 1;
		else if (strcmp(s, "--print-spec") == 0)
			a->print_spec = 1;
		else if (strcmp(s, "--bench") == 0)
			a->bench = 1;
		else if (strcmp(s, "--profile") == 0)
			a->profile = 1;
		else if (strcmp(s, "--eval-only") == 0)
			a->eval_only = 1;
		else if (s[0] != '-' && !a->source)
			a->source = s;
		else
			return bad_argument(s, v != NULL);
	}
	if (!a->source)
		return usage("no spec or preset given");
	if ((a->bench && a->steps < 1) || (a->profile && !a->bench))
		return usage(a->profile && !a->bench ? "--profile goes with --bench"
						     : "--bench needs --steps N (N >= 1)");
	return 0;
}

/* A spec file (exists, or ends in .json) is parsed; anything else names a preset. */
static int resolve(struct spec *s, cJSON **json, const struct args *a)
{
	struct spec_input in = { .set_strings = a->sets, .n_set_strings = a->n_sets };
	struct spec_error err;
	cJSON *file = NULL;
	size_t len = strlen(a->source);
	if (access(a->source, F_OK) == 0 || (len > 5 && strcmp(a->source + len - 5, ".json") == 0)) {
		FILE *f = fopen(a->source, "rb");
		char *text = NULL;
		size_t n = 0;
		if (f) {
			fseek(f, 0, SEEK_END);
			long size = ftell(f);
			fseek(f, 0, SEEK_SET);
			text = size >= 0 && size < (1 << 24) ? malloc((size_t)size + 1) : NULL;
			n = text ? fread(text, 1, (size_t)size, f) : 0;
			fclose(f);
		}
		if (!text) {
			fprintf(stderr, "byol-train: cannot read the spec file %s: %s\n", a->source,
				strerror(errno ? errno : EIO));
			return EXIT_NOT_FOUND;
		}
		text[n] = 0;
		char where[128];
		file = json_parse_located(text, where, sizeof where);
		free(text);
		if (!file) {
			fprintf(stderr, "byol-train: %s: not JSON: %s\n", a->source, where);
			return EXIT_BAD_SPEC;
		}
		in.spec = file;
	} else {
		in.preset = a->source;
	}
	int rc = spec_resolve(s, json, &in, &err);
	cJSON_Delete(file);
	if (rc) {
		fprintf(stderr, "byol-train: bad spec: %s: %s\n", err.field, err.reason);
		return EXIT_BAD_SPEC;
	}
	return 0;
}

/* ---- --bench ------------------------------------------------------------- */

/* FLOPs of one step: both views through the online nets (forward and the
   backward products) and the target nets (forward). */
static double step_flops(const struct byol_model *m)
{
	double total = 0, fwd, bwd;
	for (int p = 0; p < BYOL_PARTS; p++) {
		nn_net_flops(&m->net[p], &fwd, &bwd);
		total += 2 * (p < BYOL_TARGET_ENCODER ? fwd + bwd : fwd);
	}
	return total;
}

/* The online part of each net: encoder, projector, predictor, encoder, projector. */
static const char *const part_names[BYOL_PARTS] = { "encoder", "projector", "predictor",
						     "encoder", "projector" };

/* One profile line; bytes 0 for a product, flops 0 for an elementwise pass. */
static void profile_line(const char *part, const char *layer, const char *op, const char *shape,
			 const double ms[3], const double gflop[3], double bytes, double step_ms)
{
	const double total = ms[0] + ms[1] + ms[2], flop = gflop[0] + gflop[1] + gflop[2];
	printf("{\"event\":\"profile\",\"part\":\"%s\",\"layer\":\"%s\",\"op\":\"%s\","
	       "\"shape\":\"%s\",\"ms\":%.4f,\"fwd_ms\":%.4f,\"bwd_data_ms\":%.4f,"
	       "\"bwd_weights_ms\":%.4f,\"gflop\":%.4f,\"fwd_gflop\":%.4f,\"bwd_data_gflop\":%.4f,"
	       "\"bwd_weights_gflop\":%.4f,\"gflops\":%.2f,\"mbytes\":%.3f,\"gbs\":%.2f,"
	       "\"share\":%.5f}\n",
	       part, layer, op, shape, total, ms[0], ms[1], ms[2], flop, gflop[0], gflop[1],
	       gflop[2], total > 0 ? flop / total * 1e3 : 0, bytes * 1e-6,
	       total > 0 ? bytes / total * 1e-6 : 0, step_ms > 0 ? total / step_ms : 0);
}

/* Per node of an online net, its times and work summed with its target twin's, per step. */
static double profile_nodes(const struct byol_model *m, int part, double steps, double step_ms)
{
	const struct nn_net *on = &m->net[part];
	const struct nn_net *tg = part <= BYOL_PROJECTOR ? &m->net[part + BYOL_TARGET_ENCODER] : NULL;
	double sum_ms = 0;
	for (int i = 0; i < on->n_nodes; i++) {
		struct nn_node_info info;
		nn_node_describe(on, i, &info);
		struct nn_node_prof pr = on->prof[i];
		if (tg) {
			pr.fwd_s += tg->prof[i].fwd_s;
			pr.fwd_calls += tg->prof[i].fwd_calls;
		}
		double ms[3] = { 1e3 * pr.fwd_s / steps, 1e3 * pr.bwd_data_s / steps,
				 1e3 * pr.bwd_weights_s / steps };
		double fc = (double)pr.fwd_calls / steps, bc = (double)pr.bwd_calls / steps;
		double gflop[3] = { 1e-9 * info.flops_fwd * fc, 1e-9 * info.flops_bwd_data * bc,
				    1e-9 * info.flops_bwd_weights * bc };
		double bytes = info.bytes_fwd * fc + info.bytes_bwd * bc;
		profile_line(part_names[part], info.label, info.op, info.shape, ms, gflop, bytes,
			     step_ms);
		sum_ms += ms[0] + ms[1] + ms[2];
	}
	return sum_ms;
}

/* Bytes of one LARS/SGD update of a net: per tensor, the norm passes and the update. */
static double optim_bytes(const struct nn_net *net, const struct byol_optim *o)
{
	double b = 0;
	for (int i = 0; i < net->n_params; i++) {
		int decay = !(net->params[i].flags & NN_PARAM_NO_DECAY);
		b += 4.0 * (double)net->params[i].len * (o->lars && decay ? 8 : 5);
	}
	return b;
}

/* The passes outside the nets, then what is left of the step ("other"). */
static void profile_passes(const struct byol_model *m, double steps, double step_ms,
			   double nodes_ms)
{
	const struct byol_step_prof *pr = m->prof;
	const double zero[3] = { 0 }, bd = 4.0 * m->batch * nn_net_out_dim(&m->net[BYOL_PREDICTOR]);
	double params = 0, optim = 0, ema = 0;
	for (int p = BYOL_ENCODER; p <= BYOL_PREDICTOR; p++) {
		params += 4.0 * (double)m->net[p].param_len;
		optim += optim_bytes(&m->net[p], &m->optim);
	}
	ema = 3 * 4.0 * (double)(m->net[BYOL_ENCODER].param_len + m->net[BYOL_PROJECTOR].param_len);
	const struct { const char *name; double s, bytes; } passes[] = {
		{ "loss", pr->loss_s, 19 * bd }, /* 9 per view (dp, norms, cosine, gradient) + z_std */
		{ "lars", pr->optim_s, optim },
		{ "ema", pr->ema_s, ema },
		{ "zero_grad", pr->zero_grad_s, params },
	};
	double left = step_ms - nodes_ms;
	for (size_t i = 0; i < sizeof passes / sizeof passes[0]; i++) {
		double ms[3] = { 1e3 * passes[i].s / steps, 0, 0 };
		profile_line("step", passes[i].name, passes[i].name, "", ms, zero, passes[i].bytes,
			     step_ms);
		left -= ms[0];
	}
	double rest[3] = { left, 0, 0 };
	profile_line("step", "other", "other", "input copies, replica sum, timers", rest, zero, 0,
		     step_ms);
}

static void print_profile(const struct byol_model *m)
{
	const double steps = (double)m->prof->steps, step_ms = 1e3 * m->prof->step_s / steps;
	double nodes_ms = 0;
	for (int p = BYOL_ENCODER; p <= BYOL_PREDICTOR; p++)
		nodes_ms += profile_nodes(m, p, steps, step_ms);
	profile_passes(m, steps, step_ms, nodes_ms);
}

/* Random views, one warm-up step, then steps timed (and profiled if asked). On
   several ranks each takes its slice of the batch; rank 0 reports for all. */
static int bench(const struct spec *s, long steps, int profile, const struct replica *rep)
{
	struct byol_config cfg;
	struct byol_optim optim;
	struct byol_hyper hp = { .lr = spec_lr(s) * 0.1, .tau = s->train.tau_base };
	struct pool *pool;
	struct byol_model m;
	struct err e = { 0 };
	if (engine_model_config(s, &cfg, &optim, &e)) {
		fprintf(stderr, "byol-train: %s\n", e.msg);
		return EXIT_FAILED;
	}
	if (cfg.batch % rep->n) {
		fprintf(stderr, "byol-train: train.batch_size %d does not split evenly over %d "
			"ranks\n", cfg.batch, rep->n);
		return EXIT_FAILED;
	}
	cfg.batch /= rep->n;
	if (pool_init(&pool, s->threads, &e) ||
	    byol_model_init(&m, &cfg, &optim, pool, s->seed, &e)) {
		fprintf(stderr, "byol-train: %s\n", e.msg);
		return EXIT_FAILED;
	}
	byol_model_set_replica(&m, rep, s->train.sync_bn);
	size_t n = (size_t)cfg.batch * cfg.channels * cfg.size * cfg.size;
	float *views = malloc(2 * n * sizeof *views);
	struct rng r;
	rng_init(&r, s->seed, (uint64_t)rep->rank);
	for (size_t i = 0; i < 2 * n; i++)
		views[i] = (float)rng_normal(&r);
	struct byol_stats st;
	byol_step(&m, views, views + n, &hp, &st); /* warm-up */
	if (profile && byol_model_profile(&m, 1)) {
		fprintf(stderr, "byol-train: out of memory for the profile\n");
		return EXIT_FAILED;
	}
	double bytes0, wait0, bytes1, wait1;
	dist_traffic(&bytes0, &wait0);
	double t0 = clock_seconds();
	for (long k = 0; k < steps; k++)
		byol_step(&m, views, views + n, &hp, &st);
	double secs = clock_seconds() - t0;
	dist_traffic(&bytes1, &wait1);
	double flops = step_flops(&m) * rep->n;
	const int batch = cfg.batch * rep->n;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	if (profile && rep->rank == 0)
		print_profile(&m);
	if (rep->rank == 0)
		printf("{\"event\":\"bench\",\"img_s\":%.1f,\"ms_per_step\":%.2f,"
		       "\"peak_rss_mb\":%.1f,\"steps\":%ld,\"batch\":%d,\"threads\":%d,"
		       "\"blas_core\":\"%s\",\"gflop_per_step\":%.3f,\"gflops\":%.2f,\"loss\":%.17g,"
		       "\"profile\":%s,\"ranks\":%d,\"allreduce_mb_per_step\":%.3f,"
		       "\"collective_ms_per_step\":%.3f}\n",
		       (double)steps * batch / secs, 1e3 * secs / (double)steps,
		       (double)ru.ru_maxrss / 1024.0, steps, batch, pool_threads(pool),
		       blas_core_name(), 1e-9 * flops, 1e-9 * flops * (double)steps / secs, st.loss,
		       profile ? "true" : "false", rep->n, (bytes1 - bytes0) / 1e6 / (double)steps,
		       1e3 * (wait1 - wait0) / (double)steps);
	free(views);
	byol_model_free(&m);
	pool_free(pool);
	return 0;
}

/* ---- a training run -------------------------------------------------------- */

struct run {
	FILE *metrics;
	int jsonl;
	long total;
};

static double num(const cJSON *ev, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, key);
	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *ev, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, key);
	return cJSON_IsString(v) ? v->valuestring : "";
}

/* One event as a line for people (epochs counted from 1, as byolctl watch does). */
static void print_event(FILE *f, const cJSON *ev, long total)
{
	const char *type = str(ev, "event");
	if (strcmp(type, "step") == 0)
		fprintf(f, "step %.0f/%ld  epoch %.0f  loss %.4f  tau %.5f  lr %.4g  %.0f img/s\n",
			num(ev, "step"), total, num(ev, "epoch") + 1, num(ev, "loss"), num(ev, "tau"),
			num(ev, "lr"), num(ev, "img_s"));
	else if (strcmp(type, "epoch") == 0)
		fprintf(f, "epoch %.0f done: mean loss %.4f\n", num(ev, "epoch") + 1, num(ev, "loss"));
	else if (strcmp(type, "checkpoint") == 0)
		fprintf(f, "checkpoint at step %.0f: %s\n", num(ev, "step"), str(ev, "path"));
	else if (strcmp(type, "eval") == 0)
		fprintf(f, "%s at step %.0f: top-1 %.2f%%, top-5 %.2f%%\n",
			strcmp(str(ev, "kind"), "knn") == 0 ? "kNN" : "linear probe", num(ev, "step"),
			num(ev, "top1"), num(ev, "top5"));
	else if (strcmp(type, "log") == 0)
		fprintf(f, "%s: %s\n", str(ev, "level"), str(ev, "message"));
}

/* Every event to metrics.jsonl; to stdout with --jsonl (for programs: byold's
   launcher reads it), else as a line for people on stderr. */
static void on_event(void *ctx, const cJSON *ev)
{
	struct run *run = ctx;
	char *line = cJSON_PrintUnformatted(ev);
	if (!line)
		return;
	fprintf(run->metrics, "%s\n", line);
	fflush(run->metrics);
	if (run->jsonl) {
		printf("%s\n", line);
		fflush(stdout);
	} else {
		print_event(stderr, ev, run->total);
	}
	free(line);
}

static void on_started(void *ctx, long total_steps)
{
	((struct run *)ctx)->total = total_steps;
}

/* Makes path and its parents; *made is the length of the shortest of them that is
   new (0: path was there). */
static int make_dirs(const char *path, size_t *made)
{
	char p[4096];
	snprintf(p, sizeof p, "%s", path);
	*made = 0;
	for (char *c = p + 1;; c++) {
		if (*c && *c != '/')
			continue;
		char was = *c;
		*c = 0;
		int rc = mkdir(p, 0755);
		if (rc == 0 && !*made)
			*made = strlen(p);
		if (rc != 0 && errno != EEXIST && !was) /* (a parent's failure shows here too) */
			break;
		if (!(*c = was))
			return 0;
	}
	fprintf(stderr, "byol-train: cannot create %s: %s\n", path, strerror(errno));
	return -1;
}

/* A run that failed before its first step leaves no directory it made behind. */
static void remove_unused(const char *dir, const char *checkpoints, size_t made)
{
	char path[4200];
	rmdir(checkpoints); /* only if empty */
	snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/spec.json", dir);
	unlink(path);
	snprintf(path, sizeof path, "%s", dir);
	while (strlen(path) >= made && rmdir(path) == 0) {
		char *slash = strrchr(path, '/');
		if (!slash)
			break;
		*slash = 0;
	}
}

/* The output directory: --out, else ./runs/<name>-<UTC time>. */
static int out_dir(char *dir, size_t cap, const struct args *a, const struct spec *s,
		   size_t *made)
{
	if (a->out) {
		snprintf(dir, cap, "%s", a->out);
	} else {
		char stamp[32];
		time_t t = time(NULL);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
		snprintf(dir, cap, "runs/%s-%s", s->name[0] ? s->name : "run", stamp);
	}
	return make_dirs(dir, made);
}

/* A follower's log lines (its slices' data problems) to standard error, which the
   launcher passes on; its other events repeat rank 0's. */
static void on_follower_event(void *ctx, const cJSON *ev)
{
	const struct replica *rep = ctx;
	const cJSON *type = cJSON_GetObjectItem(ev, "event"), *msg = cJSON_GetObjectItem(ev, "message");
	const cJSON *level = cJSON_GetObjectItem(ev, "level");
	if (cJSON_IsString(type) && strcmp(type->valuestring, "log") == 0 && cJSON_IsString(msg))
		fprintf(stderr, "byol-train: rank %d: %s: %s\n", rep->rank,
			cJSON_IsString(level) ? level->valuestring : "info", msg->valuestring);
}

/* A rank of a distributed run other than 0: it trains its slices and writes no files. */
static int train_follower(const struct args *a, const struct spec *s, const char *spec_json,
			  const struct replica *rep)
{
	struct engine_options o = { .resume = a->resume, .eval_only = a->eval_only,
				    .replica = rep };
	struct engine_hooks h = { .event = on_follower_event, .ctx = (void *)rep,
				  .stop = &stop_requested };
	struct engine_result r;
	struct err e = { 0 };
	catch_stop_signals();
	if (engine_run(s, spec_json, &o, &h, &r, &e) == 0)
		return 0;
	char msg[sizeof e.msg + 64];
	snprintf(msg, sizeof msg, "failed at step %ld: %s", r.step, e.msg);
	dist_abort(rep, msg, EXIT_FAILED);
	return EXIT_FAILED;
}

/* Rank 0 could not start its run: the other ranks must not wait for it. */
static int start_failed(const struct replica *rep)
{
	if (rep->n > 1)
		dist_abort(rep, "the run could not start (see above)", EXIT_FAILED);
	return EXIT_FAILED;
}

static int train(const struct args *a, const struct spec *s, const char *spec_json,
		 const struct replica *rep)
{
	char dir[4096], path[4200];
	size_t made = 0;
	if (rep->rank != 0)
		return train_follower(a, s, spec_json, rep);
	if (a->resume && access(a->resume, R_OK) != 0) {
		fprintf(stderr, "byol-train: cannot read --resume %s: %s\n", a->resume,
			strerror(errno));
		return rep->n > 1 ? start_failed(rep) : EXIT_NOT_FOUND;
	}
	if (out_dir(dir, sizeof dir, a, s, &made))
		return rep->n > 1 ? start_failed(rep) : EXIT_CANTCREAT;
	snprintf(path, sizeof path, "%s/spec.json", dir);
	FILE *f = fopen(path, "w");
	if (!f || fprintf(f, "%s\n", spec_json) < 0 || fclose(f) != 0) {
		fprintf(stderr, "byol-train: cannot write %s\n", path);
		return start_failed(rep);
	}
	snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
	struct run run = { .metrics = fopen(path, "a"), .jsonl = a->jsonl };
	if (!run.metrics) {
		fprintf(stderr, "byol-train: cannot write %s\n", path);
		return start_failed(rep);
	}
	if (a->checkpoint_dir)
		snprintf(path, sizeof path, "%s", a->checkpoint_dir);
	else
		snprintf(path, sizeof path, "%s/checkpoints", dir);
	struct engine_options o = { .checkpoint_dir = path, .resume = a->resume,
				    .eval_only = a->eval_only, .replica = rep };
	struct engine_hooks h = { .event = on_event, .started = on_started, .ctx = &run,
				  .stop = &stop_requested };
	struct engine_result r;
	struct err e = { 0 };
	catch_stop_signals();
	int rc = engine_run(s, spec_json, &o, &h, &r, &e);
	fclose(run.metrics);
	if (rc && rep->n > 1) { /* the other ranks may wait in a collective: end them */
		char msg[sizeof e.msg + 64];
		snprintf(msg, sizeof msg, "failed at step %ld: %s", r.step, e.msg);
		dist_abort(rep, msg, EXIT_FAILED);
	}
	if (rc && made && r.step == 0 && !r.checkpoint[0])
		remove_unused(dir, path, made);
	if (rc) {
		fprintf(stderr, "byol-train: failed at step %ld: %s\n", r.step, e.msg);
		return EXIT_FAILED;
	}
	if (a->eval_only && r.state == ENGINE_STOPPED)
		fprintf(stderr, "byol-train: evaluation stopped\n");
	else if (a->eval_only)
		fprintf(stderr, "byol-train: evaluated step %ld: linear top-1 %.2f%% top-5 %.2f%%, "
			"kNN top-1 %.2f%%\n", r.step, r.top1, r.top5, r.knn_top1);
	else if (r.state == ENGINE_STOPPED)
		fprintf(stderr, "byol-train: stopped at step %ld; resume with --resume %s\n", r.step,
			r.checkpoint);
	else
		fprintf(stderr, "byol-train: done: %ld steps, loss %.4f, linear top-1 %.2f%% "
			"top-5 %.2f%%, kNN top-1 %.2f%%; waited %.0f ms for data; %s\n", r.step,
			r.final_loss, r.top1, r.top5, r.knn_top1, r.data_wait_ms, dir);
	return 0;
}

int main(int argc, char **argv)
{
	blas_select_core(argv);
	struct args a;
	int args = parse_args(&a, argc, argv);
	if (args)
		return args == 1 ? help() : args;
	struct spec s;
	cJSON *json = NULL;
	int rc = resolve(&s, &json, &a);
	if (rc)
		return rc;
	struct replica rep;
	struct err e = { 0 };
	if (dist_init(&rep, &argc, &argv, &e)) {
		fprintf(stderr, "byol-train: %s\n", e.msg);
		cJSON_Delete(json);
		return EXIT_FAILED;
	}
	if (s.threads == 0 && dist_local_ranks() > 1) /* the host's cores shared by its ranks */
		s.threads = pool_cores() / dist_local_ranks() > 0 ? pool_cores() / dist_local_ranks()
								   : 1;
	char *text = cJSON_PrintUnformatted(json);
	if (a.print_spec) {
		char *pretty = cJSON_Print(json);
		printf("%s\n", pretty ? pretty : "{}");
		free(pretty);
	} else if (a.bench) {
		rc = bench(&s, a.steps, a.profile, &rep);
	} else {
		rc = train(&a, &s, text ? text : "{}", &rep);
	}
	free(text);
	cJSON_Delete(json);
	dist_finish();
	return rc;
}
