/*
 * watch.c — watch and wait: a job followed to its end (follow.h), shown as
 *
 *   a live panel on a terminal: progress bar, step/epoch, loss raw and
 *     smoothed, tau, lr, img/s, ETA, the last kNN top-1; other events
 *     (state, checkpoint, eval, log) scroll above it;
 *   plain lines elsewhere: one per event, no escape codes;
 *   JSON lines with --json: the events as received;
 *   nothing for wait (with --json, the end event).
 *
 * Then the outcome (linear top-1/top-5, kNN top-1, final loss) and the exit
 * code: 0 completed, 1 failed, 2 cancelled.
 */
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "follow.h"

#define SMOOTH_BETA 0.9     /* the smoothed loss: an EMA, bias-corrected */
#define DRAW_EVERY_MS 100   /* the panel is redrawn at most this often */
#define PANEL_LINES 2

enum watch_mode { MODE_TTY, MODE_PLAIN, MODE_JSON, MODE_QUIET };

/* ANSI colours, used only when ctl.color. */
#define C_RESET "\033[0m"
#define C_BOLD "\033[1m"
#define C_GREEN "\033[32m"
#define C_RED "\033[31m"
#define C_YELLOW "\033[33m"
#define C_CYAN "\033[36m"

struct watch {
	struct ctl *c;
	enum watch_mode mode;
	long job_id;
	char name[130], state[32];
	long total_steps, batch, epochs;
	long step, epoch; /* epoch as in events: counted from 0 (shown from 1) */
	double loss, smooth_sum, smooth_weight, tau, lr, img_s;
	double knn, top1, top5;
	int drawn;        /* the panel is on screen */
	long last_draw;   /* clock_ms of the last draw */
};

/* ---- the panel ---------------------------------------------------------------- */

static const char *state_color(const char *state)
{
	if (strcmp(state, "running") == 0 || strcmp(state, "completed") == 0)
		return C_GREEN;
	if (strcmp(state, "failed") == 0)
		return C_RED;
	return C_YELLOW;
}

/* Appends text to a line of at most width columns, in colour if given; pieces
 * that do not fit are left out whole. */
static void put(char *line, size_t cap, size_t *cols, int width, const char *color,
		const char *text)
{
	size_t w = utf8_width(text), n = strlen(line);
	if (width > 0 && *cols + w >= (size_t)width)
		return;
	snprintf(line + n, cap - n, "%s%s%s", color ? color : "", text, color ? C_RESET : "");
	*cols += w;
}

static void panel_progress(const struct watch *w, char *line, size_t cap, int width)
{
	char buf[512];
	size_t cols = 0;
	int color = w->c->color;
	double frac = w->total_steps > 0 ? (double)w->step / w->total_steps : 0;
	line[0] = 0;
	snprintf(buf, sizeof buf, "job %ld %s  ", w->job_id, w->name[0] ? w->name : "");
	put(line, cap, &cols, width, color ? C_BOLD : NULL, buf);
	put(line, cap, &cols, width, color ? state_color(w->state) : NULL, w->state);
	if (color) { /* the bar: colour and bars only with colour allowed */
		int bar = width >= 100 || width == 0 ? 30 : 16, full = (int)lround(frac * bar);
		char b[30 * 3 + 8] = "  ";
		for (int i = 0; i < bar; i++)
			strcat(b, i < full ? "█" : "░");
		put(line, cap, &cols, width, C_CYAN, b);
	}
	snprintf(buf, sizeof buf, " %5.1f%%", 100 * frac);
	put(line, cap, &cols, width, NULL, buf);
	snprintf(buf, sizeof buf, "  step %ld/%ld", w->step, w->total_steps);
	put(line, cap, &cols, width, NULL, buf);
	snprintf(buf, sizeof buf, "  epoch %ld/%ld", w->epoch + 1, w->epochs);
	put(line, cap, &cols, width, NULL, buf);
}

static double smoothed(const struct watch *w)
{
	return w->smooth_weight > 0 ? w->smooth_sum / w->smooth_weight : NAN;
}

static void panel_metrics(const struct watch *w, char *line, size_t cap, int width)
{
	char buf[128], a[32], b[32], eta[32];
	size_t cols = 0;
	double left = w->img_s > 0 && w->batch > 0
			      ? (double)(w->total_steps - w->step) * w->batch / w->img_s
			      : NAN;
	line[0] = 0;
	fmt_num(a, sizeof a, "%.4f", w->loss);
	fmt_num(b, sizeof b, "%.4f", smoothed(w));
	snprintf(buf, sizeof buf, "loss %s (smoothed %s)", a, b);
	put(line, cap, &cols, width, NULL, buf);
	fmt_num(a, sizeof a, "%.5f", w->tau);
	fmt_num(b, sizeof b, "%.4g", w->lr);
	snprintf(buf, sizeof buf, "  tau %s  lr %s", a, b);
	put(line, cap, &cols, width, NULL, buf);
	fmt_num(a, sizeof a, "%.0f", w->img_s);
	fmt_duration(eta, sizeof eta, strcmp(w->state, "running") == 0 ? left : NAN);
	snprintf(buf, sizeof buf, "  %s img/s  ETA %s", a, eta);
	put(line, cap, &cols, width, NULL, buf);
	fmt_num(a, sizeof a, "%.2f%%", w->knn);
	snprintf(buf, sizeof buf, "  kNN top-1 %s", a);
	put(line, cap, &cols, width, NULL, buf);
}

/* Moves to the panel's first line and clears from there down. */
static void panel_clear(struct watch *w)
{
	if (!w->drawn)
		return;
	printf("\r\033[%dA\033[J", PANEL_LINES - 1);
	w->drawn = 0;
}

static void panel_draw(struct watch *w)
{
	char line[2048];
	int width = w->c->width > 1 ? w->c->width : 0;
	panel_clear(w);
	panel_progress(w, line, sizeof line, width);
	printf("%s\033[K\n", line);
	panel_metrics(w, line, sizeof line, width);
	printf("%s\033[K", line);
	fflush(stdout);
	w->drawn = 1;
	w->last_draw = clock_ms();
}

/* A line of text about an event: above the panel, or a plain line. */
static void say(struct watch *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct watch *w, const char *fmt, ...)
{
	va_list ap;
	if (w->mode != MODE_TTY && w->mode != MODE_PLAIN)
		return;
	panel_clear(w);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (w->mode == MODE_TTY)
		panel_draw(w);
	else
		fflush(stdout);
}

/* ---- events --------------------------------------------------------------------- */

static void on_step(struct watch *w, const cJSON *ev)
{
	char loss[32], tau[32], lr[32], img[32], z[32];
	w->step = json_long(ev, "step");
	w->epoch = json_long(ev, "epoch");
	w->loss = json_num(ev, "loss");
	w->tau = json_num(ev, "tau");
	w->lr = json_num(ev, "lr");
	w->img_s = json_num(ev, "img_s");
	if (isfinite(w->loss)) {
		w->smooth_sum = SMOOTH_BETA * w->smooth_sum + (1 - SMOOTH_BETA) * w->loss;
		w->smooth_weight = SMOOTH_BETA * w->smooth_weight + (1 - SMOOTH_BETA);
	}
	if (w->mode == MODE_TTY && clock_ms() - w->last_draw >= DRAW_EVERY_MS)
		panel_draw(w);
	if (w->mode != MODE_PLAIN)
		return;
	fmt_num(loss, sizeof loss, "%.4f", w->loss);
	fmt_num(tau, sizeof tau, "%.5f", w->tau);
	fmt_num(lr, sizeof lr, "%.4g", w->lr);
	fmt_num(img, sizeof img, "%.0f", w->img_s);
	fmt_num(z, sizeof z, "%.4f", json_num(ev, "z_std"));
	say(w, "step %ld/%ld epoch %ld loss %s tau %s lr %s img/s %s z_std %s", w->step,
	    w->total_steps, w->epoch + 1, loss, tau, lr, img, z);
}

static void on_eval(struct watch *w, const cJSON *ev)
{
	const char *kind = json_str(ev, "kind"), *error = json_str(ev, "error");
	char top1[32], top5[32];
	if (error) {
		say(w, "eval %s failed: %s", kind ? kind : "?", error);
		return;
	}
	if (kind && strcmp(kind, "knn") == 0)
		w->knn = json_num(ev, "top1");
	else if (kind && strcmp(kind, "linear") == 0)
		w->top1 = json_num(ev, "top1"), w->top5 = json_num(ev, "top5");
	fmt_num(top1, sizeof top1, "%.2f%%", json_num(ev, "top1"));
	fmt_num(top5, sizeof top5, "%.2f%%", json_num(ev, "top5"));
	say(w, "eval %s at step %ld: top-1 %s top-5 %s", kind ? kind : "?", json_long(ev, "step"),
	    top1, top5);
}

static void on_other(struct watch *w, const char *type, const cJSON *ev)
{
	char n[32];
	if (strcmp(type, "epoch") == 0) {
		fmt_num(n, sizeof n, "%.4f", json_num(ev, "loss"));
		if (w->mode == MODE_PLAIN)
			say(w, "epoch %ld done: loss %s in %.1f s", json_long(ev, "epoch") + 1, n,
			    json_num(ev, "seconds"));
	} else if (strcmp(type, "state") == 0) {
		const char *to = json_str(ev, "to"), *reason = json_str(ev, "reason");
		const char *from = json_str(ev, "from");
		snprintf(w->state, sizeof w->state, "%s", to ? to : "?");
		if (!from || strcmp(from, w->state) != 0) /* not a snapshot of the current state */
			say(w, "state %s -> %s%s%s", from ? from : "?", w->state,
			    reason ? ": " : "", reason ? reason : "");
		else if (w->mode == MODE_TTY)
			panel_draw(w);
	} else if (strcmp(type, "checkpoint") == 0) {
		say(w, "checkpoint %ld at step %ld", json_long(ev, "checkpoint_id"),
		    json_long(ev, "step"));
	} else if (strcmp(type, "log") == 0) {
		say(w, "%s: %s", json_str(ev, "level") ? json_str(ev, "level") : "log",
		    json_str(ev, "message") ? json_str(ev, "message") : "");
	}
}

/* The outcome line: what the job achieved, or why it did not. */
static void print_outcome(struct watch *w, const cJSON *ev, int outcome)
{
	const char *color = !w->c->color ? "" : outcome == 0 ? C_GREEN : outcome == 1 ? C_RED
										    : C_YELLOW;
	double top1 = json_num(ev, "top1"), top5 = json_num(ev, "top5"), knn = json_num(ev, "knn_top1");
	char a[32], b[32], k[32], loss[32];
	fmt_num(a, sizeof a, "%.2f%%", isnan(top1) ? w->top1 : top1);
	fmt_num(b, sizeof b, "%.2f%%", isnan(top5) ? w->top5 : top5);
	fmt_num(k, sizeof k, "%.2f%%", isnan(knn) ? w->knn : knn);
	fmt_num(loss, sizeof loss, "%.4f", json_num(ev, "final_loss"));
	printf("%sjob %ld %s%s", color, w->job_id, json_str(ev, "state"), w->c->color ? C_RESET : "");
	if (outcome == 0)
		printf(": linear top-1 %s, top-5 %s; kNN top-1 %s; final loss (the last epoch's "
		       "mean) %s\n", a, b, k, loss);
	else if (outcome == 1)
		printf(" at step %ld: %s\n", json_long(ev, "step"),
		       json_str(ev, "error") ? json_str(ev, "error") : "no reason given");
	else
		printf(" at step %ld\n", json_long(ev, "step"));
}

static int on_end(struct watch *w, const cJSON *ev)
{
	const char *state = json_str(ev, "state");
	int outcome = follow_outcome(state);
	if (outcome == FOLLOW_MORE) { /* byold is stopping: it resumes the job when back */
		snprintf(w->state, sizeof w->state, "interrupted");
		say(w, "job %ld interrupted (byold is stopping); waiting for it to resume", w->job_id);
		return FOLLOW_MORE;
	}
	snprintf(w->state, sizeof w->state, "%s", state);
	if (w->mode == MODE_TTY)
		panel_draw(w);
	if (w->mode == MODE_TTY && w->drawn) {
		printf("\n");
		w->drawn = 0;
	}
	if (w->mode == MODE_TTY || w->mode == MODE_PLAIN)
		print_outcome(w, ev, outcome);
	if (w->mode == MODE_QUIET && w->c->json)
		ctl_print_json(ev);
	fflush(stdout);
	return outcome;
}

static int on_event(struct follow *f, const cJSON *ev)
{
	struct watch *w = f->user;
	const char *type = json_str(ev, "event");
	if (w->mode == MODE_JSON) {
		ctl_print_json(ev);
		fflush(stdout);
	}
	if (strcmp(type, "step") == 0)
		on_step(w, ev);
	else if (strcmp(type, "eval") == 0)
		on_eval(w, ev);
	else if (strcmp(type, "end") == 0)
		return on_end(w, ev);
	else
		on_other(w, type, ev);
	return FOLLOW_MORE;
}

/* What job.get knows: name, size of the run, state, the last point and kNN. */
static int on_subscribed(struct follow *f, const cJSON *job)
{
	struct watch *w = f->user;
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(job, "spec"), *ev;
	const char *name = json_str(job, "name"), *state = json_str(job, "state");
	const cJSON *batch = json_path(spec, "train.batch_size"), *epochs = json_path(spec, "train.epochs");
	snprintf(w->name, sizeof w->name, "%s", name ? name : "");
	snprintf(w->state, sizeof w->state, "%s", state ? state : "?");
	w->total_steps = json_long(job, "total_steps");
	w->batch = cJSON_IsNumber(batch) ? (long)batch->valuedouble : 0;
	w->epochs = cJSON_IsNumber(epochs) ? (long)epochs->valuedouble : 0;
	cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(job, "evals"))
		if (json_str(ev, "kind") && strcmp(json_str(ev, "kind"), "knn") == 0 &&
		    isfinite(json_num(ev, "top1")))
			w->knn = json_num(ev, "top1");
	if (w->mode == MODE_TTY)
		panel_draw(w);
	return FOLLOW_MORE;
}

static void on_tick(struct follow *f)
{
	struct watch *w = f->user;
	if (w->mode == MODE_TTY && clock_ms() - w->last_draw >= 1000)
		panel_draw(w); /* the ETA moves on */
}

static void on_notice(struct follow *f, const char *msg)
{
	struct watch *w = f->user;
	if (w->mode == MODE_TTY)
		panel_clear(w);
	fflush(stdout);
	fprintf(stderr, "byolctl: %s\n", msg);
	if (w->mode == MODE_TTY)
		panel_draw(w);
}

int ctl_watch_job(struct ctl *c, long job_id, int quiet, double timeout_s)
{
	struct watch w = { .c = c, .job_id = job_id, .knn = NAN, .top1 = NAN, .top5 = NAN,
			   .loss = NAN, .tau = NAN, .lr = NAN, .img_s = NAN };
	struct follow f = { .c = c, .job_id = job_id, .timeout_s = timeout_s, .event = on_event,
			    .subscribed = on_subscribed, .tick = on_tick, .notice = on_notice,
			    .user = &w };
	w.mode = quiet ? MODE_QUIET : c->json ? MODE_JSON : c->tty ? MODE_TTY : MODE_PLAIN;
	int rc = follow_run(&f);
	if (w.mode == MODE_TTY && w.drawn)
		printf("\n");
	if (rc <= CTL_JOB_CANCELLED)
		c->err.msg[0] = 0; /* the outcome is the message */
	return rc;
}

int verb_watch(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = { { "timeout", required_argument, 0, 't' },
					      { 0, 0, 0, 0 } };
	double timeout = 0;
	long id;
	int ch;
	while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		char *end;
		if (ch != 't')
			return ctl_bad_option(c, argv[0], ch, argv);
		timeout = strtod(optarg, &end);
		if (*end || end == optarg || !(timeout > 0))
			return ctl_usage(c, argv[0], "--timeout wants seconds, not '%s'", optarg);
	}
	int rc = ctl_one_job(c, argv[0], argc, argv, optind, &id);
	return rc ? rc : ctl_watch_job(c, id, strcmp(argv[0], "wait") == 0, timeout);
}
