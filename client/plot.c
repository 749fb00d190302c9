/*
 * plot.c — `plot JOB... -o FILE.svg`: loss, tau and lr over steps, one panel
 * each, one polyline per job per panel, with axes, ticks and a legend.
 *
 * Every polyline carries class="series", data-series (loss|tau|lr) and
 * data-job (the job id), and has one point per job.metrics point with a
 * finite value, so a reader (or a test) can find each curve. The file is
 * written to a temporary name and renamed into place.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

#define PLOT_MAX_JOBS 16
#define SVG_W 900.0
#define PANEL_H 220.0
#define PANEL_GAP 60.0
#define MARGIN_L 80.0
#define MARGIN_R 30.0
#define LEGEND_ROW 18.0
#define TICKS 5

static const char *const series[] = { "loss", "tau", "lr" };
static const char *const titles[] = { "loss", "tau (target EMA rate)", "learning rate" };
#define N_SERIES 3

static const char *const palette[] = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
				       "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf" };

struct plot_job {
	long id;
	char name[130];
	cJSON *points; /* job.metrics's result */
};

struct range {
	double lo, hi;
};

struct panel {
	double x, y, w, h; /* the plotting area */
	struct range xr, yr;
};

/* ---- scales --------------------------------------------------------------------- */

static double nice_step(double span)
{
	double raw = span / TICKS, mag = pow(10, floor(log10(raw))), f = raw / mag;
	return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

/* Widens r to whole ticks (a flat range gets some room first). */
static double nice_range(struct range *r)
{
	if (!(r->hi > r->lo)) {
		double pad = fabs(r->lo) > 0 ? fabs(r->lo) * 0.05 : 1;
		r->lo -= pad;
		r->hi += pad;
	}
	double step = nice_step(r->hi - r->lo);
	r->lo = floor(r->lo / step) * step;
	r->hi = ceil(r->hi / step) * step;
	return step;
}

static void tick_label(char *out, size_t n, double v, double step)
{
	int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
	if (fabs(v) < step * 1e-6)
		v = 0;
	if (fabs(v) >= 1e6 || (v != 0 && fabs(v) < 1e-4) || decimals > 6)
		snprintf(out, n, "%.3g", v);
	else
		snprintf(out, n, "%.*f", decimals, v);
}

static double px(const struct panel *p, double v)
{
	return p->x + (v - p->xr.lo) / (p->xr.hi - p->xr.lo) * p->w;
}

static double py(const struct panel *p, double v)
{
	return p->y + p->h - (v - p->yr.lo) / (p->yr.hi - p->yr.lo) * p->h;
}

/* The range of key over every job's points (NAN..NAN when none). */
static struct range data_range(const struct plot_job *jobs, int n, const char *key)
{
	struct range r = { INFINITY, -INFINITY };
	const cJSON *p;
	for (int j = 0; j < n; j++)
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(jobs[j].points, "points")) {
			double v = json_num(p, key);
			if (isfinite(v)) {
				r.lo = fmin(r.lo, v);
				r.hi = fmax(r.hi, v);
			}
		}
	if (!isfinite(r.lo))
		r = (struct range){ 0, 1 };
	return r;
}

/* ---- drawing -------------------------------------------------------------------- */

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default:
			if ((unsigned char)*s >= 0x20 || *s == '\t')
				fputc(*s, f);
		}
	}
}

static void draw_legend(FILE *f, const struct plot_job *jobs, int n)
{
	fprintf(f, "<g class=\"legend\">\n");
	for (int j = 0; j < n; j++) {
		double y = 24 + j * LEGEND_ROW;
		fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"%s\" "
			   "stroke-width=\"3\"/>\n", MARGIN_L, y - 4, MARGIN_L + 24, y - 4,
			palette[j % 10]);
		fprintf(f, "<text x=\"%.0f\" y=\"%.1f\">job %ld ", MARGIN_L + 32, y, jobs[j].id);
		xml_text(f, jobs[j].name);
		fprintf(f, "</text>\n");
	}
	fprintf(f, "</g>\n");
}

static void draw_axes(FILE *f, const struct panel *p, const char *title, double xstep,
		      double ystep)
{
	char label[64];
	fprintf(f, "<text class=\"title\" x=\"%.1f\" y=\"%.1f\" font-weight=\"bold\">", p->x,
		p->y - 8);
	xml_text(f, title);
	fprintf(f, "</text>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
		   "fill=\"none\" stroke=\"#888\"/>\n", p->x, p->y, p->w, p->h);
	for (double v = p->yr.lo; v <= p->yr.hi + ystep * 1e-6; v += ystep) {
		double y = py(p, v);
		tick_label(label, sizeof label, v, ystep);
		fprintf(f, "<line class=\"ytick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
			   "stroke=\"#ddd\"/>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s"
			   "</text>\n", p->x - 5, y, p->x + p->w, y, p->x - 8, y + 4, label);
	}
	for (double v = p->xr.lo; v <= p->xr.hi + xstep * 1e-6; v += xstep) {
		double x = px(p, v), y = p->y + p->h;
		tick_label(label, sizeof label, v, xstep);
		fprintf(f, "<line class=\"xtick\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
			   "stroke=\"#888\"/>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s"
			   "</text>\n", x, y, x, y + 5, x, y + 18, label);
	}
	fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">step</text>\n",
		p->x + p->w / 2, p->y + p->h + 34);
}

static void draw_series(FILE *f, const struct panel *p, const struct plot_job *job, int j,
			const char *key)
{
	const cJSON *pt;
	int first = 1;
	fprintf(f, "<polyline class=\"series\" data-series=\"%s\" data-job=\"%ld\" fill=\"none\" "
		   "stroke=\"%s\" stroke-width=\"1.5\" points=\"", key, job->id, palette[j % 10]);
	cJSON_ArrayForEach(pt, cJSON_GetObjectItemCaseSensitive(job->points, "points")) {
		double s = json_num(pt, "step"), v = json_num(pt, key);
		if (!isfinite(s) || !isfinite(v))
			continue;
		fprintf(f, "%s%.2f,%.2f", first ? "" : " ", px(p, s), py(p, v));
		first = 0;
	}
	fprintf(f, "\"/>\n");
}

static void draw(FILE *f, struct plot_job *jobs, int n)
{
	double top = 24 + n * LEGEND_ROW + 30;
	double height = top + N_SERIES * (PANEL_H + PANEL_GAP);
	struct range xr = data_range(jobs, n, "step");
	double xstep = nice_range(&xr);
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		   "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		   "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n"
		   "<title>byolctl plot</title>\n"
		   "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
		SVG_W, height, SVG_W, height);
	draw_legend(f, jobs, n);
	for (int s = 0; s < N_SERIES; s++) {
		struct panel p = { MARGIN_L, top + s * (PANEL_H + PANEL_GAP),
				   SVG_W - MARGIN_L - MARGIN_R, PANEL_H, xr,
				   data_range(jobs, n, series[s]) };
		double ystep = nice_range(&p.yr);
		fprintf(f, "<g class=\"panel\" data-series=\"%s\">\n", series[s]);
		draw_axes(f, &p, titles[s], xstep, ystep);
		for (int j = 0; j < n; j++)
			draw_series(f, &p, &jobs[j], j, series[s]);
		fprintf(f, "</g>\n");
	}
	fprintf(f, "</svg>\n");
}

/* ---- the verb ---------------------------------------------------------------------- */

static int fetch(struct ctl *c, struct plot_job *pj, const char *arg)
{
	cJSON *job;
	int rc = ctl_parse_id(c, arg, "JOB", &pj->id);
	if (!rc)
		rc = ctl_get_job(c, pj->id, &job);
	if (rc)
		return rc;
	snprintf(pj->name, sizeof pj->name, "%s", json_str(job, "name") ? json_str(job, "name") : "");
	cJSON_Delete(job);
	return ctl_call(c, "job.metrics", ctl_job_params(pj->id), &pj->points);
}

static int write_svg(struct ctl *c, struct plot_job *jobs, int n, const char *path)
{
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.part-%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "w");
	if (!f)
		return ctl_errf(&c->err, CTL_CANTCREAT, "cannot create %s: %s", tmp, strerror(errno));
	draw(f, jobs, n);
	int bad = ferror(f);
	if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
		int saved = errno;
		unlink(tmp);
		return ctl_errf(&c->err, CTL_CANTCREAT, "cannot write %s: %s", path, strerror(saved));
	}
	return 0;
}

int verb_plot(struct ctl *c, int argc, char **argv)
{
	static const struct option opts[] = { { "output", required_argument, 0, 'o' },
					      { 0, 0, 0, 0 } };
	struct plot_job jobs[PLOT_MAX_JOBS] = { 0 };
	const char *out = NULL;
	int ch, n, rc = 0;
	while ((ch = getopt_long(argc, argv, ":o:", opts, NULL)) != -1) {
		if (ch != 'o')
			return ctl_bad_option(c, "plot", ch, argv);
		out = optarg;
	}
	n = argc - optind;
	if (!out)
		return ctl_usage(c, "plot", "where to? -o FILE.svg");
	if (n < 1 || n > PLOT_MAX_JOBS)
		return ctl_usage(c, "plot", "plot takes 1 to %d jobs", PLOT_MAX_JOBS);
	for (int j = 0; !rc && j < n; j++)
		rc = fetch(c, &jobs[j], argv[optind + j]);
	if (!rc)
		rc = write_svg(c, jobs, n, out);
	if (!rc && c->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "path", out);
		cJSON_AddNumberToObject(o, "jobs", n);
		ctl_print_json(o);
		cJSON_Delete(o);
	} else if (!rc) {
		printf("%s: loss, tau and lr of %d job%s\n", out, n, n == 1 ? "" : "s");
	}
	for (int j = 0; j < n; j++)
		cJSON_Delete(jobs[j].points);
	return rc;
}
