/*
 * data/subset.c — views of a data set and the class-balanced draws that pick
 * them: the labelled subsets of fine-tuning and the held-out splits (see
 * dataset.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset_impl.h"
#include "rng.h"

int dataset_subset(struct dataset **out, const struct dataset *base, const size_t *index,
		   size_t n, struct err *e)
{
	*out = NULL;
	if (n == 0)
		return err_set(e, ERR_INVALID, "an empty subset of a data set");
	for (size_t i = 0; i < n; i++)
		if (index[i] >= dataset_size(base))
			return err_set(e, ERR_RANGE, "subset: image %zu of a data set of %zu",
				       index[i], dataset_size(base));
	struct dataset *ds = calloc(1, sizeof *ds);
	size_t *copy = malloc(n * sizeof *copy);
	if (!ds || !copy) {
		free(ds);
		free(copy);
		return err_set(e, ERR_NOMEM, "out of memory for a subset of %zu images", n);
	}
	memcpy(copy, index, n * sizeof *copy);
	*ds = (struct dataset){ .format = base->format, .channels = base->channels,
				.skip_bad = base->skip_bad, .log = base->log,
				.log_ctx = base->log_ctx, .n = n, .classes = base->classes,
				.base = base->base ? base->base : base, .index = copy };
	if (base->base) /* a view of a view: index its base directly */
		for (size_t i = 0; i < n; i++)
			copy[i] = base->index[copy[i]];
	*out = ds;
	return 0;
}

void dataset_draw_free(struct dataset_draw *d)
{
	free(d->picked);
	free(d->rest);
	memset(d, 0, sizeof *d);
}

/* Images of class c wanted from n_c, for a draw of fraction f or count in all. */
static size_t wanted(size_t n_c, int c, int classes, double fraction, size_t count)
{
	size_t k;
	if (n_c == 0)
		return 0;
	if (fraction > 0) {
		k = (size_t)llround(fraction * (double)n_c);
		k = k < 1 ? 1 : k;
	} else {
		k = count / (size_t)classes + ((size_t)c < count % (size_t)classes);
	}
	return k < n_c ? k : n_c;
}

/* Mark the first k of class c's images (members[0..n_c)) after a seeded shuffle. */
static void pick_class(uint8_t *mark, size_t *members, size_t n_c, size_t k, uint64_t seed,
		       uint64_t stream, int c)
{
	struct rng r;
	rng_init(&r, seed, stream);
	r = rng_fork(&r, (uint64_t)c);
	for (size_t i = 0; i < k; i++) { /* a partial Fisher–Yates: the first k places */
		size_t j = i + (size_t)(rng_u64(&r) % (n_c - i)), t = members[i];
		members[i] = members[j], members[j] = t;
		mark[members[i]] = 1;
	}
}

/* Image indices by class: members of class c are by_class[start[c] .. start[c + 1]). */
static int group_by_class(const struct dataset *ds, size_t **by_class, size_t **start,
			  struct err *e)
{
	const size_t n = dataset_size(ds);
	const int classes = dataset_classes(ds);
	*by_class = malloc(n * sizeof **by_class);
	*start = calloc((size_t)classes + 2, sizeof **start);
	if (!*by_class || !*start)
		return err_set(e, ERR_NOMEM, "out of memory for a draw of %zu images", n);
	for (size_t i = 0; i < n; i++)
		(*start)[dataset_label(ds, i) + 2]++;
	for (int c = 0; c < classes; c++)
		(*start)[c + 2] += (*start)[c + 1];
	for (size_t i = 0; i < n; i++) /* counting sort, stable: file order within a class */
		(*by_class)[(*start)[dataset_label(ds, i) + 1]++] = i;
	return 0;
}

/* The marked and unmarked indices of mark[0..n) into d, each ascending. */
static int collect(struct dataset_draw *d, const uint8_t *mark, size_t n, struct err *e)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += mark[i];
	d->picked = malloc((k ? k : 1) * sizeof *d->picked);
	d->rest = malloc((n - k ? n - k : 1) * sizeof *d->rest);
	if (!d->picked || !d->rest)
		return err_set(e, ERR_NOMEM, "out of memory for a draw of %zu images", n);
	for (size_t i = 0; i < n; i++) {
		if (mark[i])
			d->picked[d->n_picked++] = i;
		else
			d->rest[d->n_rest++] = i;
	}
	return 0;
}

int dataset_draw_balanced(struct dataset_draw *d, const struct dataset *ds, double fraction,
			  size_t count, uint64_t seed, uint64_t stream, struct err *e)
{
	const size_t n = dataset_size(ds);
	const int classes = dataset_classes(ds);
	memset(d, 0, sizeof *d);
	if (!(fraction > 0 && fraction < 1) && !(fraction == 0 && count > 0))
		return err_set(e, ERR_INVALID, "a draw of fraction %g and count %zu", fraction,
			       count);
	size_t *by_class = NULL, *start = NULL;
	uint8_t *mark = calloc(n, 1);
	int rc = mark ? group_by_class(ds, &by_class, &start, e)
		      : err_set(e, ERR_NOMEM, "out of memory for a draw of %zu images", n);
	for (int c = 0; !rc && c < classes; c++) {
		size_t n_c = start[c + 1] - start[c];
		size_t k = wanted(n_c, c, classes, fraction, count);
		if (n_c > 0 && k == 0)
			rc = err_set(e, ERR_INVALID, "%zu labelled images cannot cover %d classes: "
				     "class %d would have none", count, classes, c);
		else
			pick_class(mark, by_class + start[c], n_c, k, seed, stream, c);
	}
	if (!rc)
		rc = collect(d, mark, n, e);
	if (rc)
		dataset_draw_free(d);
	free(mark);
	free(by_class);
	free(start);
	return rc;
}
