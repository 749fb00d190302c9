/*
 * encode.c — evaluation features (see encode.h).
 */
#include "byol/encode.h"

#include <stdlib.h>
#include <string.h>

#include "data/augment.h"

void features_free(struct feature_set *f)
{
	free(f->x);
	free(f->y);
	memset(f, 0, sizeof *f);
}

/* A copy of the trained encoder for batches of `batch`, without gradients. */
static int clone_encoder(struct nn_net *net, const struct feature_source *src, struct pool *pool,
			 struct err *e)
{
	nn_net_init(net, pool, src->channels, src->size, src->size);
	encoder_build(net, "", 0, src->arch);
	int rc = nn_net_finalize(net, e);
	if (!rc)
		rc = nn_net_set_batch(net, src->batch, NN_GRAD_NONE, e);
	if (!rc && (net->param_len != src->encoder->param_len ||
		    net->buffer_len != src->encoder->buffer_len))
		rc = err_set(e, ERR_INVALID, "features: encoder layouts differ");
	if (rc)
		return rc;
	memcpy(net->param, src->encoder->param, net->param_len * sizeof(float));
	memcpy(net->buffer, src->encoder->buffer, net->buffer_len * sizeof(float));
	return 0;
}

/* Forward the first `fill` images of the batch buffer and append their features. */
static void flush(struct feature_set *out, struct nn_net *net, const float *batch, int fill)
{
	const float *y = nn_net_forward(net, batch, 0);
	memcpy(out->x + out->n * (size_t)out->dim, y, (size_t)fill * out->dim * sizeof(float));
	out->n += (size_t)fill;
}

int features_extract(struct feature_set *out, const struct feature_source *src,
		     const struct dataset *ds, struct pool *pool, size_t *skipped, struct err *e)
{
	struct nn_net net;
	struct image img = { 0 };
	memset(out, 0, sizeof *out);
	int rc = clone_encoder(&net, src, pool, e);
	const size_t n = dataset_size(ds), per_image =
		(size_t)src->channels * src->size * src->size;
	float *batch = NULL, *scratch = NULL;
	size_t scratch_len = 0, bad = 0;
	if (!rc) {
		out->dim = nn_net_out_dim(&net);
		out->x = malloc((n + 1) * (size_t)out->dim * sizeof(float));
		out->y = malloc((n + 1) * sizeof(int));
		batch = malloc((size_t)src->batch * per_image * sizeof(float));
		if (!out->x || !out->y || !batch)
			rc = err_set(e, ERR_NOMEM, "features: out of memory for %zu images", n);
	}
	int fill = 0;
	for (size_t i = 0; !rc && i < n; i++) {
		if (dataset_load(ds, i, &img, e) != 0) {
			bad++;
			continue;
		}
		size_t need = augment_scratch_floats(src->size, &img);
		if (need > scratch_len) {
			float *p = realloc(scratch, need * sizeof(float));
			if (!p) {
				rc = err_set(e, ERR_NOMEM, "features: out of memory");
				break;
			}
			scratch = p;
			scratch_len = need;
		}
		augment_center(batch + (size_t)fill * per_image, scratch, &img, src->size, src->mean,
			       src->std);
		out->y[out->n + (size_t)fill] = dataset_label(ds, i);
		if (++fill == src->batch) {
			flush(out, &net, batch, fill);
			fill = 0;
			if (src->stop && atomic_load(src->stop))
				rc = err_set(e, ERR_STOPPED, "features: stopped");
		}
	}
	if (!rc && fill > 0) {
		/* The tail batch: pad with copies of its first image (eval-mode BN is per sample). */
		for (int j = fill; j < src->batch; j++)
			memcpy(batch + (size_t)j * per_image, batch, per_image * sizeof(float));
		flush(out, &net, batch, fill);
	}
	if (skipped)
		*skipped = bad;
	image_free(&img);
	free(batch);
	free(scratch);
	nn_net_free(&net);
	if (rc)
		features_free(out);
	return rc;
}
