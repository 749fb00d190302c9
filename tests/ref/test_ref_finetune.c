/*
 * test_ref_finetune.c — fine-tuning steps of the classifier (encoder + linear
 * head, cross-entropy, SGD with Nesterov momentum) against PyTorch
 * (tests/ref/gen_finetune.py, float64 from the same float32 start).
 *
 * From the same weights and batches, every step's loss must agree within
 * 1e-5 (relative), and after the last step every parameter, BN statistic and
 * momentum buffer within 5e-4 / 1e-3 of PyTorch's (‖a−b‖ / ‖b‖ per tensor,
 * for the reason test_ref_byol.c gives), as must the eval-mode logits. Plain
 * momentum in place of Nesterov's, a missing head bias update or BN in eval
 * mode during the steps each fail it.
 */
#include "byol/classifier.h"
#include "ref_util.h"

#define LOSS_TOL 1e-5
#define TENSOR_TOL 5e-4
#define MOMENTUM_TOL 1e-3

static int meta_int(const struct st_file *f, const char *key)
{
	const char *v = st_meta(f, key);
	assert_non_null(v);
	return atoi(v);
}

/* Load (want NULL) or compare every parameter (and buffer) of net under prefix. */
static void visit(struct nn_net *net, const float *arena, const char *prefix, int params_only,
		  const struct st_file *f, double tol, int load)
{
	char key[NN_NAME_MAX + 64];
	for (int i = 0; i < net->n_params + (params_only ? 0 : net->n_buffers); i++) {
		int is_param = i < net->n_params;
		const struct nn_tensor *t = is_param ? &net->params[i] : &net->buffers[i - net->n_params];
		float *data = (is_param ? (arena ? (float *)arena : net->param) : net->buffer) + t->offset;
		snprintf(key, sizeof key, "%s.%s", prefix, t->name);
		if (load) {
			assert_int_equal(ref_copy(data, f, key, t->len), 0);
			continue;
		}
		float *want = malloc(t->len * sizeof *want);
		assert_int_equal(ref_copy(want, f, key, t->len), 0);
		double e = ref_error_l2(data, want, t->len, 1e-6);
		if (getenv("REF_VERBOSE") || !(e <= tol))
			fprintf(stderr, "%-48s error %.3e\n", key, e);
		assert_true(e <= tol);
		free(want);
	}
}

static void check_file(void **state)
{
	const char *path = *state;
	struct st_file f;
	struct err e = { 0 };
	struct pool *pool;
	assert_int_equal(st_read(&f, path, 0, &e), 0);
	struct encoder_config arch = { .width = atof(st_meta(&f, "width")),
				       .imagenet_stem = strcmp(st_meta(&f, "stem"), "imagenet") == 0 };
	assert_int_equal(encoder_arch_parse(st_meta(&f, "model"), &arch.arch), 0);
	const int channels = meta_int(&f, "channels"), size = meta_int(&f, "size");
	const int batch = meta_int(&f, "batch"), classes = meta_int(&f, "classes");
	const int steps = meta_int(&f, "steps");
	assert_int_equal(pool_init(&pool, 2, &e), 0);

	struct nn_net init; /* the starting encoder, as a trained one would be handed over */
	nn_net_init(&init, pool, channels, size, size);
	encoder_build(&init, "", 0, &arch);
	assert_int_equal(nn_net_finalize(&init, &e), 0);
	visit(&init, NULL, "init.encoder", 0, &f, 0, 1);
	struct classifier c;
	assert_int_equal(classifier_init(&c, &arch, &init, channels, size, classes, batch, 1, pool,
					 &e), 0);
	nn_net_free(&init);
	visit(&c.head, NULL, "init.head", 0, &f, 0, 1);

	const size_t n_img = (size_t)batch * channels * size * size;
	float *images = malloc(n_img * sizeof *images), labels_f[64], loss[16], lr[16];
	int labels[64];
	char key[32];
	assert_int_equal(ref_copy(loss, &f, "loss", (size_t)steps), 0);
	assert_int_equal(ref_copy(lr, &f, "lr", (size_t)steps), 0);
	for (int k = 0; k < steps; k++) {
		snprintf(key, sizeof key, "images.%d", k);
		assert_int_equal(ref_copy(images, &f, key, n_img), 0);
		snprintf(key, sizeof key, "labels.%d", k);
		assert_int_equal(ref_copy(labels_f, &f, key, (size_t)batch), 0);
		for (int i = 0; i < batch; i++)
			labels[i] = (int)labels_f[i];
		double l = classifier_step(&c, images, labels, lr[k]);
		double rel = fabs(l - loss[k]) / loss[k];
		if (getenv("REF_VERBOSE") || !(rel <= LOSS_TOL))
			fprintf(stderr, "step %d loss %.7f, PyTorch %.7f\n", k, l, loss[k]);
		assert_true(rel <= LOSS_TOL);
	}
	visit(&c.enc, NULL, "final.encoder", 0, &f, TENSOR_TOL, 0);
	visit(&c.head, NULL, "final.head", 0, &f, TENSOR_TOL, 0);
	visit(&c.enc, c.mom_enc, "momentum.encoder", 1, &f, MOMENTUM_TOL, 0);
	visit(&c.head, c.mom_head, "momentum.head", 1, &f, MOMENTUM_TOL, 0);

	assert_int_equal(ref_copy(images, &f, "images.0", n_img), 0);
	const float *logits = classifier_logits(&c, images);
	float *want = malloc((size_t)batch * classes * sizeof *want);
	assert_int_equal(ref_copy(want, &f, "logits", (size_t)batch * classes), 0);
	double err_logits = ref_error_l2(logits, want, (size_t)batch * classes, 1e-6);
	assert_true(err_logits <= TENSOR_TOL);
	print_message("%s: %d steps, losses %.4f → %.4f, eval logits error %.1e\n",
		      strrchr(path, '/') + 1, steps, loss[0], loss[steps - 1], err_logits);
	free(want);
	free(images);
	classifier_free(&c);
	pool_free(pool);
	st_free(&f);
}

int main(void)
{
	return ref_run_cases("ref_finetune", "finetune", check_file, NULL);
}
