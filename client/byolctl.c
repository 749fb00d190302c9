/*
 * byolctl.c — the command-line client of byold: global options, where the
 * daemon is, the verb table and its dispatch (byolctl(1)).
 *
 *   byolctl [--socket PATH | --host HOST:PORT --token-file F] [--json] VERB ...
 *
 * The socket is --socket, else $BYOLD_SOCKET, else ./var/byold.sock, else
 * /run/byold/byold.sock (the first of the last two that exists). The verb
 * table is data: name, handler, synopsis and help; `byolctl VERB --help` and
 * `byolctl --help` print from it. A verb returns an exit code; on failure main
 * prints the message it left in ctl.err.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "hostport.h"

static const char *const default_sockets[] = { "var/byold.sock", "/run/byold/byold.sock" };

struct verb {
	const char *name;
	int (*fn)(struct ctl *c, int argc, char **argv);
	const char *synopsis;
	const char *help;
};

static const struct verb verbs[] = {
	{ "submit", verb_submit, "SPEC.json|PRESET [--set k=v]... [--dry-run] [--follow]",
	  "Submit a job: a spec file (an existing file or a name ending in .json) or a preset\n"
	  "(see `byolctl presets`). Each --set path=value changes one field; the value is\n"
	  "read as JSON if it parses, else as a string (--set train.epochs=2 --set\n"
	  "model.encoder=resnet18). --dry-run prints the resolved spec without submitting;\n"
	  "--follow watches the job to its end (exit status as `watch`). Prints the job id;\n"
	  "with --json {\"job_id\": N}. A bad spec exits 65 naming the field.\n" },
	{ "ls", verb_ls, "[--all] [--state S]",
	  "List jobs: by default the queued, running, paused and interrupted ones and those\n"
	  "that finished in the last 24 hours; --all lists every job, --state S those in\n"
	  "state S (queued, running, paused, completed, failed, cancelled, interrupted).\n" },
	{ "show", verb_show, "JOB",
	  "Show a job: state, times, progress, last metrics, checkpoints, evaluations and\n"
	  "the main fields of its spec (--json: job.get's result, spec included).\n" },
	{ "watch", verb_watch, "JOB [--timeout S]",
	  "Follow a job live until it ends. On a terminal: a progress bar, step/epoch, loss\n"
	  "(raw and smoothed), tau, lr, img/s, ETA and the last kNN top-1; otherwise one\n"
	  "line per event (--json: the events as JSON, one per line). Survives a daemon\n"
	  "restart (reconnects every second and resumes after the last step seen). Exits\n"
	  "0 completed, 1 failed, 2 cancelled, 75 when --timeout S runs out first.\n" },
	{ "wait", verb_watch, "JOB [--timeout S]",
	  "Wait silently until a job ends; exit status as `watch` (--json prints the end\n"
	  "event).\n" },
	{ "logs", verb_logs, "JOB [-f] [--tail N]",
	  "Print a job's log lines (the last N, default 100); -f keeps following new lines\n"
	  "until the job ends.\n" },
	{ "pause", verb_control, "JOB", "Pause a queued or running job: a running one checkpoints at its next\n"
	  "step and gives its worker back.\n" },
	{ "resume", verb_control, "JOB", "Resume a paused job: it waits for a worker, then continues where it\n"
	  "stopped.\n" },
	{ "cancel", verb_control, "JOB", "Cancel a queued, running or paused job.\n" },
	{ "rm", verb_control, "JOB",
	  "Delete a job that is not running, with its checkpoints, metrics and logs.\n" },
	{ "metrics", verb_metrics, "JOB [--csv] [--every N]",
	  "Print a job's metric points (step, epoch, loss, tau, lr, img/s, z_std, time) as a\n"
	  "table, as CSV with --csv, or as job.metrics's result with --json.\n" },
	{ "ckpt", verb_ckpt, "ls JOB | get CKPT | get JOB --latest [-o FILE] [--encoder-only]",
	  "ckpt ls JOB lists a job's checkpoints. ckpt get fetches a checkpoint by id (or\n"
	  "a job's newest with --latest) into FILE (default checkpoint-<id>.safetensors),\n"
	  "checking the sha256 of the whole file: on a mismatch nothing is left behind and\n"
	  "the exit status is 74. --encoder-only keeps only the online encoder, with the\n"
	  "online.encoder. prefix removed, so it loads into the torchvision-layout module.\n" },
	{ "eval", verb_eval, "JOB [--kind knn|linear] [--checkpoint CKPT]",
	  "Evaluate a job's encoder (default: the linear probe) and print top-1/top-5 when\n"
	  "the result arrives.\n" },
	{ "history", verb_history, "[FILTER]... [--order-by [-]F] [--limit N]",
	  "Query the history of runs. A FILTER is KEY OP VALUE with OP one of = == != < <=\n"
	  "> >=: name, state, since and until (RFC 3339 times, with =) filter the jobs;\n"
	  "top1, top5, knn_top1 and final_loss filter the results; any other key is a\n"
	  "dotted spec path (model.encoder=convnet train.epochs>=10). --order-by takes\n"
	  "top1, top5, knn_top1, final_loss, created, finished, name or job_id, with a\n"
	  "leading - for descending (default -job_id).\n" },
	{ "compare", verb_compare, "JOB JOB...",
	  "Show the spec fields that differ between jobs, side by side, and their results.\n" },
	{ "plot", verb_plot, "JOB... -o FILE.svg",
	  "Draw the loss, tau and lr of jobs over steps into an SVG file, one panel each.\n" },
	{ "presets", verb_presets, "", "List the daemon's presets.\n" },
	{ "status", verb_status, "", "Show the daemon's version, uptime, workers and job counts.\n" },
};

#define N_VERBS ((int)(sizeof verbs / sizeof verbs[0]))

static const struct verb *find_verb(const char *name)
{
	for (int i = 0; i < N_VERBS; i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

static void usage_all(FILE *f)
{
	fprintf(f, "usage: byolctl [--socket PATH | --host HOST:PORT --token-file F [--tls] "
		   "[--tls-ca FILE]]\n               [--json] VERB ...\n"
		   "       byolctl --version | --help | VERB --help\n\nverbs:\n");
	for (int i = 0; i < N_VERBS; i++)
		fprintf(f, "  %-8s %s\n", verbs[i].name, verbs[i].synopsis);
	fprintf(f, "\nThe daemon's socket: --socket, $BYOLD_SOCKET, ./var/byold.sock, then\n"
		   "/run/byold/byold.sock. Over TCP (--host, or $BYOLD_HOST), --token-file\n"
		   "(or $BYOLD_TOKEN_FILE) names the daemon's <state-dir>/token; --tls speaks\n"
		   "TLS and pins byold's certificate on first use (~/.config/byolctl/known_hosts),\n"
		   "--tls-ca verifies it against a CA file instead.\n"
		   "--json prints results as one JSON line. Exit status: 0 ok,\n"
		   "1 job failed, 2 job cancelled, 64 usage, 65 bad spec, 66 not found, 69 daemon\n"
		   "unreachable, 74 checksum mismatch, 75 busy or bad state, 77 not authorised.\n"
		   "See byolctl(1).\n");
}

static void usage_verb(FILE *f, const struct verb *v)
{
	fprintf(f, "usage: byolctl [global options] %s %s\n\n%s", v->name, v->synopsis, v->help);
}

/* ---- shared helpers (ctl.h) --------------------------------------------------- */

int ctl_usage(struct ctl *c, const char *verb, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	const struct verb *v = verb ? find_verb(verb) : NULL;
	if (v)
		return ctl_errf(&c->err, CTL_USAGE, "%s\nusage: byolctl %s %s (byolctl %s --help)",
				msg, v->name, v->synopsis, v->name);
	return ctl_errf(&c->err, CTL_USAGE, "%s (byolctl --help)", msg);
}

int ctl_rpc(struct ctl *c, struct rpcc **out)
{
	if (!c->connected) {
		int rc = rpcc_open(&c->rpc, &c->target, &c->err);
		if (rc)
			return rc;
		c->connected = 1;
	}
	*out = &c->rpc;
	return 0;
}

int ctl_call(struct ctl *c, const char *method, cJSON *params, cJSON **result)
{
	struct rpcc *r;
	int rc = ctl_rpc(c, &r);
	if (rc) {
		cJSON_Delete(params);
		*result = NULL;
		return rc;
	}
	return rpcc_call(r, method, params, result, &c->err);
}

void ctl_print_json(const cJSON *v)
{
	char *text = cJSON_PrintUnformatted(v);
	if (text)
		printf("%s\n", text);
	free(text);
}

int ctl_call_print(struct ctl *c, const char *method, cJSON *params,
		   void (*show)(struct ctl *c, const cJSON *result))
{
	cJSON *res;
	int rc = ctl_call(c, method, params, &res);
	if (rc)
		return rc;
	if (c->json)
		ctl_print_json(res);
	else
		show(c, res);
	cJSON_Delete(res);
	return CTL_OK;
}

int ctl_bad_option(struct ctl *c, const char *verb, int ch, char **argv)
{
	return ctl_usage(c, verb, ch == ':' ? "%s needs a value" : "unknown option %s",
			 argv[optind - 1]);
}

int ctl_one_job(struct ctl *c, const char *verb, int argc, char **argv, int first, long *id)
{
	if (argc - first != 1)
		return ctl_usage(c, verb, argc - first < 1 ? "which job?" : "one job only");
	return ctl_parse_id(c, argv[first], "JOB", id);
}

int ctl_job_call(struct ctl *c, const char *method, long job_id, cJSON *params,
		 cJSON **result)
{
	int rc = ctl_call(c, method, params ? params : ctl_job_params(job_id), result);
	if (rc == CTL_NOT_FOUND)
		ctl_errf(&c->err, rc, "job %ld not found — `byolctl ls --all` lists the jobs",
			 job_id);
	return rc;
}

int ctl_get_job(struct ctl *c, long job_id, cJSON **job)
{
	return ctl_job_call(c, "job.get", job_id, NULL, job);
}

cJSON *ctl_job_params(long job_id)
{
	cJSON *p = cJSON_CreateObject();
	cJSON_AddNumberToObject(p, "job_id", (double)job_id);
	return p;
}

int ctl_parse_id(struct ctl *c, const char *arg, const char *what, long *id)
{
	char *end;
	errno = 0;
	long v = arg ? strtol(arg, &end, 10) : 0;
	if (!arg || errno || *end || end == arg || v < 1)
		return ctl_usage(c, NULL, "%s must be a positive number, not '%s'", what,
				 arg ? arg : "");
	*id = v;
	return 0;
}

/* ---- global options and where the daemon is ------------------------------------- */

struct globals {
	const char *socket, *host, *token_file, *tls_ca;
	int tls;
};

/* "--opt VALUE" or "--opt=VALUE": the value (and *i advanced), or NULL if a is not --opt. */
static const char *opt_value(int argc, char **argv, int *i, const char *opt, int *missing)
{
	size_t n = strlen(opt);
	const char *a = argv[*i];
	if (strncmp(a, opt, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n])
		return NULL;
	if (*i + 1 >= argc) {
		*missing = 1;
		return NULL;
	}
	return argv[++*i];
}

/* Parses the options before the verb; the verb's index, or −exit code (−0 for --help/--version). */
static int parse_globals(struct ctl *c, struct globals *g, int argc, char **argv)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i], *v;
		int missing = 0;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage_all(stdout);
			return 0;
		} else if (strcmp(a, "--version") == 0) {
			printf("byolctl %s\n", BYOL_VERSION);
			return 0;
		} else if (strcmp(a, "--json") == 0) {
			c->json = 1;
		} else if ((v = opt_value(argc, argv, &i, "--socket", &missing))) {
			g->socket = v;
		} else if ((v = opt_value(argc, argv, &i, "--host", &missing))) {
			g->host = v;
		} else if ((v = opt_value(argc, argv, &i, "--token-file", &missing))) {
			g->token_file = v;
		} else if (strcmp(a, "--tls") == 0) {
			g->tls = 1;
		} else if ((v = opt_value(argc, argv, &i, "--tls-ca", &missing))) {
			g->tls_ca = v;
			g->tls = 1;
		} else {
			return -ctl_usage(c, NULL, missing ? "%s needs a value" : "unknown option %s",
					  a);
		}
	}
	if (i == argc)
		return -ctl_usage(c, NULL, "no verb given");
	return i;
}

static int set_tcp_target(struct ctl *c, const struct globals *g)
{
	struct rpcc_target *t = &c->target;
	struct err e;
	int port;
	if (hostport_parse(g->host, t->host, sizeof t->host, &port, &e) != 0)
		return ctl_usage(c, NULL, "--host wants HOST:PORT, not '%s'", g->host);
	if (!g->token_file)
		return ctl_usage(c, NULL, "--host needs --token-file F (F: the daemon's "
				 "<state-dir>/token)");
	snprintf(t->port, sizeof t->port, "%d", port);
	snprintf(t->token_file, sizeof t->token_file, "%s", g->token_file);
	snprintf(t->tls_ca, sizeof t->tls_ca, "%s", g->tls_ca ? g->tls_ca : "");
	t->tls = g->tls;
	snprintf(t->where, sizeof t->where, "%s:%s", g->tls ? "tls" : "tcp", g->host);
	return 0;
}

/* A flag wins over its environment variable: BYOLD_HOST, BYOLD_TOKEN_FILE,
   BYOLD_TLS (1: as --tls), BYOLD_TLS_CA. */
static void from_environment(struct globals *g)
{
	const char *v;
	if (g->socket)
		return; /* --socket: the environment's TCP target does not apply */
	if (!g->host && (v = getenv("BYOLD_HOST")) && *v)
		g->host = v;
	if (!g->token_file && (v = getenv("BYOLD_TOKEN_FILE")) && *v)
		g->token_file = v;
	if (!g->tls_ca && (v = getenv("BYOLD_TLS_CA")) && *v)
		g->tls_ca = v, g->tls = 1;
	if ((v = getenv("BYOLD_TLS")) && strcmp(v, "1") == 0)
		g->tls = 1;
}

static int set_target(struct ctl *c, struct globals *g)
{
	if (g->tls && !g->host && !getenv("BYOLD_HOST"))
		return ctl_usage(c, NULL, "--tls needs --host HOST:PORT (TLS is for TCP)");
	from_environment(g);
	const char *path = g->socket ? g->socket : getenv("BYOLD_SOCKET");
	if (g->host && g->socket)
		return ctl_usage(c, NULL, "--socket and --host exclude each other");
	if (g->host)
		return set_tcp_target(c, g);
	if (!path || !*path) {
		path = default_sockets[0];
		for (size_t i = 0; i < sizeof default_sockets / sizeof *default_sockets; i++)
			if (access(default_sockets[i], F_OK) == 0) {
				path = default_sockets[i];
				break;
			}
	}
	if (strlen(path) >= sizeof c->target.socket)
		return ctl_usage(c, NULL, "socket path too long");
	snprintf(c->target.socket, sizeof c->target.socket, "%s", path);
	snprintf(c->target.where, sizeof c->target.where, "unix:%s", path);
	return 0;
}

/* ---- main ---------------------------------------------------------------------- */

static int wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

/* --json is accepted after the verb too (`byolctl ls --json`): drop it from argv. */
static int take_json(struct ctl *c, int argc, char **argv)
{
	int n = 0;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 && (i == 0 || strcmp(argv[i - 1], "--set") != 0))
			c->json = 1;
		else
			argv[n++] = argv[i];
	}
	argv[n] = NULL;
	return n;
}

static int run(struct ctl *c, int argc, char **argv)
{
	struct globals g = { 0 };
	int at = parse_globals(c, &g, argc, argv);
	if (at <= 0)
		return -at;
	const struct verb *v = find_verb(argv[at]);
	if (!v)
		return ctl_usage(c, NULL, "unknown verb '%s'", argv[at]);
	argc = at + take_json(c, argc - at, argv + at);
	if (wants_help(argc - at, argv + at)) {
		usage_verb(stdout, v);
		return 0;
	}
	int rc = set_target(c, &g);
	optind = 0; /* each verb parses its own options with getopt_long */
	opterr = 0;
	return rc ? rc : v->fn(c, argc - at, argv + at);
}

int main(int argc, char **argv)
{
	static struct ctl c;
	const char *no_color = getenv("NO_COLOR");
	signal(SIGPIPE, SIG_IGN); /* a daemon gone mid-request is an error to report */
	c.tty = isatty(STDOUT_FILENO);
	c.color = c.tty && !(no_color && *no_color);
	c.width = term_width(STDOUT_FILENO);
	int rc = run(&c, argc, argv);
	if (c.connected)
		rpcc_close(&c.rpc);
	if (fflush(stdout) != 0 && rc == 0)
		rc = ctl_errf(&c.err, CTL_CANTCREAT, "writing the output failed");
	if (rc && c.err.msg[0])
		fprintf(stderr, "byolctl: %s\n", c.err.msg);
	return rc;
}
