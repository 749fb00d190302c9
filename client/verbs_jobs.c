/*
 * verbs_jobs.c — jobs and the daemon: submit, ls, show, pause / resume /
 * cancel / rm, presets, status.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "json_text.h"
#include "spec.h"
#include "table.h"

#define RECENT_S 86400.0 /* ls shows jobs finished this recently */

static int is_final(const char *state)
{
	return state && (strcmp(state, "completed") == 0 || strcmp(state, "failed") == 0 ||
			 strcmp(state, "cancelled") == 0);
}

/* ---- submit ------------------------------------------------------------------ */

struct submit_args {
	const char *what; /* spec file or preset */
	cJSON *set;       /* {"dotted.path": value} from --set */
	int dry_run, follow;
};

static int add_set(struct ctl *c, cJSON *set, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char key[256];
	if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof key)
		return ctl_usage(c, "submit", "--set wants path=value, not '%s'", kv);
	memcpy(key, kv, (size_t)(eq - kv));
	key[eq - kv] = 0;
	cJSON_DeleteItemFromObjectCaseSensitive(set, key); /* the last --set of a path wins */
	cJSON_AddItemToObject(set, key, json_from_arg(eq + 1));
	return 0;
}

static int parse_submit(struct ctl *c, int argc, char **argv, struct submit_args *a)
{
	static const struct option opts[] = { { "set", required_argument, 0, 's' },
					      { "dry-run", no_argument, 0, 'n' },
					      { "follow", no_argument, 0, 'f' },
					      { 0, 0, 0, 0 } };
	int ch, rc = 0;
	a->set = cJSON_CreateObject();
	while (!rc && (ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (ch == 's')
			rc = add_set(c, a->set, optarg);
		else if (ch == 'n')
			a->dry_run = 1;
		else if (ch == 'f')
			a->follow = 1;
		else
			rc = ctl_bad_option(c, "submit", ch, argv);
	}
	if (!rc && argc - optind != 1)
		rc = ctl_usage(c, "submit", argc == optind ? "submit what? a spec file or a preset"
							   : "one spec or preset only");
	if (!rc)
		a->what = argv[optind];
	return rc;
}

/* A spec file: an existing file, or a name ending in .json. */
static int is_spec_file(const char *what)
{
	size_t n = strlen(what);
	return access(what, F_OK) == 0 || (n > 5 && strcmp(what + n - 5, ".json") == 0);
}

static int read_spec(struct ctl *c, const char *path, cJSON **spec)
{
	size_t len;
	char *text = file_read(path, &len);
	if (!text)
		return ctl_errf(&c->err, CTL_NOT_FOUND, "cannot read the spec file %s: %s", path,
				strerror(errno));
	char where[128];
	*spec = json_parse_located(text, where, sizeof where);
	free(text);
	if (!*spec)
		return ctl_errf(&c->err, CTL_BAD_SPEC, "%s: not JSON: %s", path, where);
	if (!cJSON_IsObject(*spec)) {
		cJSON_Delete(*spec);
		*spec = NULL;
		return ctl_errf(&c->err, CTL_BAD_SPEC, "%s: a spec is a JSON object", path);
	}
	return 0;
}

/* The message for a refused spec: the field, the reason, and where to fix it. */
static int bad_spec(struct ctl *c, const char *field_in, const char *reason_in)
{
	char field[128], reason[256]; /* they may point into c->err */
	snprintf(field, sizeof field, "%s", field_in);
	snprintf(reason, sizeof reason, "%s", reason_in);
	if (strcmp(field, "preset") == 0)
		return ctl_errf(&c->err, CTL_BAD_SPEC, "bad spec: preset: %s — `byolctl presets` "
				"lists them", reason);
	return ctl_errf(&c->err, CTL_BAD_SPEC, "bad spec: %s: %s — fix it in the spec or with "
			"--set %s=VALUE", field, reason, field);
}

#define NAME_BYTES 128          /* a job name's limit (byol-spec(5)) */
#define GENERATED_NAME_BYTES 60 /* a name made from overrides, before its "…" */

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* Overrides without a name of their own name the job after them too
   ("fmnist-quick train.epochs=5"), so ls and history tell it from the preset's. */
static void name_after_sets(const struct submit_args *a, const cJSON *spec)
{
	if (!a->set->child || cJSON_GetObjectItemCaseSensitive(a->set, "name"))
		return;
	const cJSON *own = spec ? cJSON_GetObjectItemCaseSensitive(spec, "name") : NULL;
	char name[NAME_BYTES + 1];
	if (cJSON_IsString(own))
		snprintf(name, sizeof name, "%s", own->valuestring);
	else if (spec) /* the file's stem */
		snprintf(name, sizeof name, "%.*s", (int)strcspn(basename_of(a->what), "."),
			 basename_of(a->what));
	else
		snprintf(name, sizeof name, "%s", a->what);
	const cJSON *kv;
	cJSON_ArrayForEach(kv, a->set) {
		char *v = cJSON_IsString(kv) ? NULL : cJSON_PrintUnformatted(kv);
		size_t used = strlen(name);
		snprintf(name + used, sizeof name - used, " %s=%s", kv->string,
			 v ? v : kv->valuestring);
		free(v);
	}
	size_t n = strlen(name);
	if (n > GENERATED_NAME_BYTES) { /* the spec keeps every override; the name, the first */
		n = GENERATED_NAME_BYTES;
		while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80) /* cut at a character */
			n--;
		snprintf(name + n, sizeof name - n, "…");
	}
	cJSON_AddStringToObject(a->set, "name", name);
}

/* cJSON_Print's output with spaces for its tabs: two per level of indentation,
   one after a key's colon. */
static void print_indented(const char *text)
{
	int line_start = 1;
	for (const char *p = text; *p; p++) {
		if (*p == '\t')
			fputs(line_start ? "  " : " ", stdout);
		else
			putchar(*p);
		line_start = *p == '\n' || (line_start && *p == '\t');
	}
	putchar('\n');
}

/* --dry-run: resolve locally (common/spec.c), print the spec. */
static int dry_run(struct ctl *c, const struct submit_args *a, const cJSON *spec)
{
	struct spec s;
	struct spec_error se;
	cJSON *json = NULL;
	struct spec_input in = { .preset = spec ? NULL : a->what, .spec = spec, .set = a->set };
	if (spec_resolve(&s, &json, &in, &se) != 0)
		return bad_spec(c, se.field, se.reason);
	char *text = c->json ? cJSON_PrintUnformatted(json) : cJSON_Print(json);
	if (text && c->json)
		printf("%s\n", text);
	else if (text)
		print_indented(text);
	free(text);
	cJSON_Delete(json);
	return CTL_OK;
}

static int submit(struct ctl *c, const struct submit_args *a, cJSON *spec)
{
	cJSON *params = cJSON_CreateObject(), *res;
	if (spec)
		cJSON_AddItemReferenceToObject(params, "spec", spec);
	else
		cJSON_AddStringToObject(params, "preset", a->what);
	if (a->set->child)
		cJSON_AddItemReferenceToObject(params, "set", a->set);
	int rc = ctl_call(c, "job.submit", params, &res);
	if (rc == CTL_BAD_SPEC && c->err.field[0])
		return bad_spec(c, c->err.field, c->err.reason);
	if (rc)
		return rc;
	long id = json_long(res, "job_id");
	if (c->json)
		ctl_print_json(res);
	else
		printf("job %ld submitted\n", id);
	cJSON_Delete(res);
	if (!a->follow)
		return CTL_OK;
	fflush(stdout);
	return ctl_watch_job(c, id, 0, 0);
}

int verb_submit(struct ctl *c, int argc, char **argv)
{
	struct submit_args a = { 0 };
	cJSON *spec = NULL;
	int rc = parse_submit(c, argc, argv, &a);
	if (!rc && is_spec_file(a.what))
		rc = read_spec(c, a.what, &spec);
	if (!rc)
		name_after_sets(&a, spec);
	if (!rc)
		rc = a.dry_run ? dry_run(c, &a, spec) : submit(c, &a, spec);
	cJSON_Delete(spec);
	cJSON_Delete(a.set);
	return rc;
}

/* ---- ls -------------------------------------------------------------------------- */

/* Shown by default: not finished, or finished in the last day. */
static int is_current(const cJSON *job)
{
	const char *finished = json_str(job, "finished");
	return !is_final(json_str(job, "state")) || !finished ||
	       time_since(finished) < RECENT_S;
}

static void progress_cell(struct table *t, const cJSON *job)
{
	long step = json_long(job, "step"), total = json_long(job, "total_steps");
	if (total > 0)
		table_cell(t, "%ld/%ld %3.0f%%", step < 0 ? 0 : step, total,
			   100.0 * (step < 0 ? 0 : step) / total);
	else
		table_cell(t, "%ld", step < 0 ? 0 : step);
}

static void print_jobs(struct ctl *c, const cJSON *jobs)
{
	static const char *const head[] = { "ID", "NAME", "STATE", "PROGRESS", "LOSS", "TOP1",
					     "CREATED" };
	struct table *t = table_new(7, head);
	const cJSON *job;
	char loss[32], top1[32], created[32];
	if (!t)
		return;
	table_right(t, 0);
	table_flex(t, 1);
	table_right(t, 4);
	table_right(t, 5);
	cJSON_ArrayForEach(job, jobs) {
		fmt_num(loss, sizeof loss, "%.4f", json_num(job, "last_loss"));
		fmt_num(top1, sizeof top1, "%.2f%%", json_num(job, "top1"));
		fmt_time(created, sizeof created, json_str(job, "created"));
		const char *name = json_str(job, "name");
		table_cell(t, "%ld", json_long(job, "job_id"));
		table_cell(t, "%s", name && *name ? name : "-");
		table_cell(t, "%s", json_str(job, "state") ? json_str(job, "state") : "?");
		progress_cell(t, job);
		table_cell(t, "%s", loss);
		table_cell(t, "%s", top1);
		table_cell(t, "%s", created);
	}
	table_print(t, stdout, c->width);
	table_free(t);
}

int verb_ls(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = { { "all", no_argument, 0, 'a' },
					      { "state", required_argument, 0, 's' },
					      { 0, 0, 0, 0 } };
	const char *state = NULL;
	int all = 0, ch;
	while ((ch = getopt_long(argc, argv, ":a", opts, NULL)) != -1) {
		if (ch == 'a')
			all = 1;
		else if (ch == 's')
			state = optarg;
		else
			return ctl_bad_option(c, "ls", ch, argv);
	}
	if (optind != argc)
		return ctl_usage(c, "ls", "unexpected argument '%s'", argv[optind]);
	cJSON *params = cJSON_CreateObject(), *res;
	cJSON_AddNumberToObject(params, "limit", 10000);
	if (state)
		cJSON_AddStringToObject(params, "state", state);
	int rc = ctl_call(c, "job.list", params, &res);
	if (rc)
		return rc;
	cJSON *jobs = cJSON_GetObjectItemCaseSensitive(res, "jobs");
	for (cJSON *job = jobs ? jobs->child : NULL, *next; job; job = next) {
		next = job->next;
		if (!all && !state && !is_current(job))
			cJSON_Delete(cJSON_DetachItemViaPointer(jobs, job));
	}
	if (c->json)
		ctl_print_json(res);
	else if (cJSON_GetArraySize(jobs) == 0)
		fprintf(stderr, "byolctl: no %s jobs%s\n", state ? state : all ? "" : "current",
			all || state ? "" : " (`byolctl ls --all` lists every job)");
	else
		print_jobs(c, jobs);
	cJSON_Delete(res);
	return CTL_OK;
}

/* ---- show ----------------------------------------------------------------------- */

/* "  key       value", the value cut to the terminal's width. */
static void kv(struct ctl *c, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void kv(struct ctl *c, const char *key, const char *fmt, ...)
{
	char v[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v, sizeof v, fmt, ap);
	va_end(ap);
	size_t room = c->width > 20 ? (size_t)c->width - 12 : 0;
	if (room && utf8_width(v) > room)
		printf("  %-9s %.*s…\n", key, (int)utf8_prefix(v, room - 1), v);
	else
		printf("  %-9s %s\n", key, v);
}

static void show_times(struct ctl *c, const cJSON *job)
{
	char t[32], ran[32];
	const char *s = json_str(job, "started"), *f = json_str(job, "finished");
	fmt_time(t, sizeof t, json_str(job, "created"));
	kv(c, "created", "%s", t);
	fmt_time(t, sizeof t, s);
	kv(c, "started", "%s", t);
	fmt_time(t, sizeof t, f);
	kv(c, "finished", "%s", t);
	fmt_duration(ran, sizeof ran, f ? time_between(s, f) : time_since(s));
	kv(c, "ran", "%s", ran);
}

static void show_last(struct ctl *c, const cJSON *job)
{
	const cJSON *last = cJSON_GetObjectItemCaseSensitive(job, "last");
	char loss[32], tau[32], lr[32], img[32], z[32];
	long step = json_long(job, "step"), total = json_long(job, "total_steps");
	step = step < 0 ? 0 : step;
	kv(c, "progress", "%ld/%ld steps (%.0f%%)", step, total,
	   total > 0 ? 100.0 * step / total : 0.0);
	if (!cJSON_IsObject(last))
		return;
	fmt_num(loss, sizeof loss, "%.4f", json_num(last, "loss"));
	fmt_num(tau, sizeof tau, "%.5f", json_num(last, "tau"));
	fmt_num(lr, sizeof lr, "%.4g", json_num(last, "lr"));
	fmt_num(img, sizeof img, "%.0f", json_num(last, "img_s"));
	fmt_num(z, sizeof z, "%.4f", json_num(last, "z_std"));
	kv(c, "last", "step %ld: loss %s, tau %s, lr %s", json_long(last, "step"), loss, tau, lr);
	kv(c, "", "%s img/s, z_std %s", img, z);
}

/* "all images", or "the first N images" (a limit of 0 is none). */
static const char *image_limit(char *buf, size_t cap, const cJSON *limit)
{
	long n = cJSON_IsNumber(limit) ? (long)limit->valuedouble : 0;
	if (n > 0)
		snprintf(buf, cap, "the first %ld images", n);
	else
		snprintf(buf, cap, "all images");
	return buf;
}

/* The spec's main fields; `show --json` has all of it. */
static void show_spec(struct ctl *c, const cJSON *job)
{
	static const char *const paths[] = { "model.encoder", "model.width", "train.epochs",
					     "train.batch_size", "optim.name", "optim.base_lr",
					     "data.format", "data.path", "data.split",
					     "eval_data.format", "eval_data.path", "eval_data.split" };
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(job, "spec");
	char v[12][256], limit[64], eval_limit[64];
	if (!cJSON_IsObject(s))
		return;
	for (int i = 0; i < 12; i++)
		fmt_value(v[i], sizeof v[i], json_path(s, paths[i]));
	kv(c, "model", "%s, width %s", v[0], v[1]);
	kv(c, "train", "%s epochs of batch %s, %s base_lr %s", v[2], v[3], v[4], v[5]);
	kv(c, "data", "%s %s, %s split, %s", v[6], v[7], v[8],
	   image_limit(limit, sizeof limit, json_path(s, "data.limit")));
	kv(c, "eval", "%s %s, %s split, %s", v[9], v[10], v[11],
	   image_limit(eval_limit, sizeof eval_limit, json_path(s, "eval_data.limit")));
}

static void show_evals(struct ctl *c, const cJSON *list)
{
	static const char *const head[] = { "EVAL", "KIND", "STATE", "STEP", "TOP1", "TOP5" };
	struct table *t = table_new(6, head);
	const cJSON *ev;
	char top1[32], top5[32];
	if (!t)
		return;
	table_right(t, 0);
	for (int i = 3; i < 6; i++)
		table_right(t, i);
	cJSON_ArrayForEach(ev, list) {
		fmt_num(top1, sizeof top1, "%.2f%%", json_num(ev, "top1"));
		fmt_num(top5, sizeof top5, "%.2f%%", json_num(ev, "top5"));
		table_cell(t, "%ld", json_long(ev, "eval_id"));
		table_cell(t, "%s", json_str(ev, "kind") ? json_str(ev, "kind") : "-");
		table_cell(t, "%s", json_str(ev, "state") ? json_str(ev, "state") : "-");
		table_cell(t, "%ld", json_long(ev, "step"));
		table_cell(t, "%s", top1);
		table_cell(t, "%s", top5);
	}
	table_print(t, stdout, c->width);
	table_free(t);
}

static void print_job(struct ctl *c, const cJSON *job)
{
	const char *name = json_str(job, "name"), *error = json_str(job, "error");
	const cJSON *ckpts = cJSON_GetObjectItemCaseSensitive(job, "checkpoints");
	const cJSON *evals = cJSON_GetObjectItemCaseSensitive(job, "evals");
	const char *state = json_str(job, "state") ? json_str(job, "state") : "?";
	int room = c->width > 0 ? c->width - 20 - (int)strlen(state) : 1 << 20; /* "job N  …  state" */
	name = name && *name ? name : "-";
	int n = (int)strlen(name) > room && room > 8 ? room - 1 : (int)strlen(name);
	while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80) /* whole characters */
		n--;
	printf("job %ld  %.*s%s  %s\n", json_long(job, "job_id"), n, name,
	       n < (int)strlen(name) ? "…" : "", state);
	show_times(c, job);
	show_last(c, job);
	if (error && *error)
		kv(c, "error", "%s", error);
	if (json_long(job, "skipped_images") > 0)
		kv(c, "skipped", "%ld image files (on_error skip; `byolctl logs %ld` names them)",
		   json_long(job, "skipped_images"), json_long(job, "job_id"));
	show_spec(c, job);
	if (cJSON_GetArraySize(ckpts) > 0) {
		printf("\ncheckpoints:\n");
		ctl_print_checkpoints(c, ckpts);
	}
	if (cJSON_GetArraySize(evals) > 0) {
		printf("\nevaluations:\n");
		show_evals(c, evals);
	}
}

int verb_show(struct ctl *c, int argc, char **argv)
{
	long id;
	cJSON *job;
	int rc = ctl_one_job(c, "show", argc, argv, 1, &id);
	if (!rc)
		rc = ctl_get_job(c, id, &job);
	if (rc)
		return rc;
	if (c->json)
		ctl_print_json(job);
	else
		print_job(c, job);
	cJSON_Delete(job);
	return CTL_OK;
}

/* ---- pause, resume, cancel, rm ------------------------------------------------------ */

int verb_control(struct ctl *c, int argc, char **argv)
{
	static const char *const map[][2] = { { "pause", "job.pause" },
					      { "resume", "job.resume" },
					      { "cancel", "job.cancel" },
					      { "rm", "job.delete" } };
	const char *method = NULL;
	long id = 0;
	cJSON *res;
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strcmp(argv[0], map[i][0]) == 0)
			method = map[i][1];
	int rc = ctl_one_job(c, argv[0], argc, argv, 1, &id);
	if (!rc)
		rc = ctl_job_call(c, method, id, NULL, &res);
	if (rc)
		return rc;
	if (c->json)
		ctl_print_json(res);
	else if (json_str(res, "state"))
		printf("job %ld %s\n", id, json_str(res, "state"));
	else
		printf("job %ld deleted\n", id);
	cJSON_Delete(res);
	return CTL_OK;
}

/* ---- presets, status ---------------------------------------------------------------- */

static void print_presets(struct ctl *c, const cJSON *res)
{
	static const char *const head[] = { "PRESET", "DESCRIPTION" };
	struct table *t = table_new(2, head);
	const cJSON *p;
	if (!t)
		return;
	table_flex(t, 1);
	cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(res, "presets")) {
		table_cell(t, "%s", json_str(p, "name") ? json_str(p, "name") : "?");
		table_cell(t, "%s", json_str(p, "description") ? json_str(p, "description") : "");
	}
	table_print(t, stdout, c->width);
	table_free(t);
}

int verb_presets(struct ctl *c, int argc, char **argv)
{
	if (argc > 1)
		return ctl_usage(c, "presets", "unexpected argument '%s'", argv[1]);
	return ctl_call_print(c, "preset.list", NULL, print_presets);
}

static void print_status(struct ctl *c, const cJSON *res)
{
	char up[32], v[256];
	const cJSON *jobs = cJSON_GetObjectItemCaseSensitive(res, "jobs"), *x;
	fmt_duration(up, sizeof up, json_num(res, "uptime_s"));
	printf("byold %s at %s, up %s, %ld worker%s\n",
	       json_str(res, "version") ? json_str(res, "version") : "?", c->target.where, up,
	       json_long(res, "workers"), json_long(res, "workers") == 1 ? "" : "s");
	printf("jobs:");
	cJSON_ArrayForEach(x, jobs)
		printf("%s %s %ld", x == jobs->child ? "" : ",", x->string, (long)x->valuedouble);
	printf("\n");
	cJSON_ArrayForEach(x, res) { /* anything else the daemon reports */
		if (strcmp(x->string, "version") && strcmp(x->string, "uptime_s") &&
		    strcmp(x->string, "workers") && strcmp(x->string, "jobs")) {
			fmt_value(v, sizeof v, x);
			printf("%s: %s\n", x->string, v);
		}
	}
}

int verb_status(struct ctl *c, int argc, char **argv)
{
	if (argc > 1)
		return ctl_usage(c, "status", "unexpected argument '%s'", argv[1]);
	return ctl_call_print(c, "server.status", NULL, print_status);
}
