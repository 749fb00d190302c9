/*
 * classifier.c — encoder + linear head trained on labels (see classifier.h).
 */
#include "byol/classifier.h"

#include <stdlib.h>
#include <string.h>

#include "byol/loss.h"
#include "byol/optim.h"

static int build_encoder(struct classifier *c, const struct encoder_config *arch,
			 const struct nn_net *from, int channels, int size, struct pool *pool,
			 struct err *e)
{
	nn_net_init(&c->enc, pool, channels, size, size);
	encoder_build(&c->enc, "", 0, arch);
	int rc = nn_net_finalize(&c->enc, e);
	if (!rc)
		rc = nn_net_set_batch(&c->enc, c->batch, NN_GRAD_PARAMS, e);
	if (!rc && (c->enc.param_len != from->param_len || c->enc.buffer_len != from->buffer_len))
		rc = err_set(e, ERR_INVALID, "classifier: the encoder's layout differs from the "
			     "trained one's");
	if (rc)
		return rc;
	memcpy(c->enc.param, from->param, from->param_len * sizeof(float));
	memcpy(c->enc.buffer, from->buffer, from->buffer_len * sizeof(float));
	c->dim = nn_net_out_dim(&c->enc);
	return 0;
}

static int build_head(struct classifier *c, uint64_t seed, struct pool *pool, struct err *e)
{
	nn_net_init(&c->head, pool, c->dim, 1, 1);
	nn_linear(&c->head, "fc", 0, c->classes, 1);
	int rc = nn_net_finalize(&c->head, e);
	if (!rc)
		rc = nn_net_set_batch(&c->head, c->batch, NN_GRAD_INPUT, e);
	if (!rc)
		nn_net_reset_params(&c->head, seed);
	return rc;
}

int classifier_init(struct classifier *c, const struct encoder_config *arch,
		    const struct nn_net *from, int channels, int size, int classes, int batch,
		    uint64_t seed, struct pool *pool, struct err *e)
{
	memset(c, 0, sizeof *c);
	c->batch = batch, c->classes = classes;
	c->optim = (struct byol_optim){ .momentum = CLASSIFIER_MOMENTUM, .nesterov = 1 };
	int rc = build_encoder(c, arch, from, channels, size, pool, e);
	if (!rc)
		rc = build_head(c, seed, pool, e);
	if (rc)
		return rc;
	c->mom_enc = calloc(c->enc.param_len, sizeof(float));
	c->mom_head = calloc(c->head.param_len, sizeof(float));
	c->dlogits = malloc((size_t)batch * classes * sizeof(float));
	if (!c->mom_enc || !c->mom_head || !c->dlogits)
		return err_set(e, ERR_NOMEM, "classifier: out of memory");
	return 0;
}

void classifier_free(struct classifier *c)
{
	nn_net_free(&c->enc);
	nn_net_free(&c->head);
	free(c->mom_enc);
	free(c->mom_head);
	free(c->dlogits);
	memset(c, 0, sizeof *c);
}

double classifier_step(struct classifier *c, const float *images, const int *labels, double lr)
{
	const float *feat = nn_net_forward(&c->enc, images, 1);
	const float *logits = nn_net_forward(&c->head, feat, 1);
	memcpy(c->dlogits, logits, (size_t)c->batch * c->classes * sizeof(float));
	double loss = softmax_xent(c->dlogits, labels, c->batch, c->classes);
	nn_net_zero_grad(&c->head);
	nn_net_zero_grad(&c->enc);
	nn_net_backward(&c->head, c->dlogits);
	nn_net_backward(&c->enc, c->head.acts[0].grad);
	byol_optim_update(&c->head, c->mom_head, &c->optim, lr);
	byol_optim_update(&c->enc, c->mom_enc, &c->optim, lr);
	return loss;
}

const float *classifier_logits(struct classifier *c, const float *images)
{
	return nn_net_forward(&c->head, nn_net_forward(&c->enc, images, 0), 0);
}
