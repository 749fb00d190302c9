/*
 * test_engine.c — whole jobs: on real data (Fashion-MNIST, a small subset)
 * the events a run emits, its checkpoints, evaluation results, and that a run
 * stopped part-way and resumed from its checkpoint ends bit-identical to one
 * that never stopped; on a JPEG folder with a damaged file, on_error "skip"
 * trains past it and "fail" fails the job naming it.
 */
#include "dataset_test_util.h"

#include <stdatomic.h>
#include <time.h>

#include "engine/checkpoint.h"
#include "engine/engine.h"
#include "safetensors.h"

#define dir tmp_root

/* fmnist-convnet with sets on top, as a struct and as JSON text. */
static void resolve_sets(struct spec *s, char **json, const char *const *sets, int n)
{
	struct spec_input in = { .preset = "fmnist-convnet", .set_strings = sets,
				 .n_set_strings = n };
	struct spec_error err;
	cJSON *resolved;
	if (spec_resolve(s, &resolved, &in, &err))
		fail_msg("%s: %s", err.field, err.reason);
	*json = cJSON_PrintUnformatted(resolved);
	cJSON_Delete(resolved);
}

/* A small but real run: 512 images, batch 64 (8 steps an epoch), 2 epochs. */
static void resolve(struct spec *s, char **json)
{
	static const char *const sets[] = {
		"data.limit=512", "eval_data.limit=256", "model.width=0.25",
		"model.projector={\"hidden\":64,\"out\":32}",
		"model.predictor={\"hidden\":64,\"out\":32}", "train.batch_size=64",
		"train.epochs=2", "optim.warmup_epochs=1", "train.log_every=2",
		"eval.every_epochs=1", "eval.linear.epochs=3", "eval.knn.k=20", "threads=2",
		"checkpoint.every_steps=4", "checkpoint.keep_last=2",
	};
	resolve_sets(s, json, sets, (int)(sizeof sets / sizeof sets[0]));
}

struct seen {
	int steps, epochs, checkpoints, knn, linear;
	long last_step;
	long stop_at;                 /* request a stop once this step is reported */
	atomic_int stop;
};

static void on_event(void *ctx, const cJSON *ev)
{
	struct seen *s = ctx;
	const char *type = cJSON_GetObjectItem(ev, "event")->valuestring;
	long step = (long)cJSON_GetObjectItem(ev, "step")->valuedouble;
	if (strcmp(type, "step") == 0) {
		s->steps++;
		assert_true(cJSON_GetObjectItem(ev, "loss")->valuedouble > 0);
		assert_true(cJSON_GetObjectItem(ev, "img_s")->valuedouble > 0);
		assert_non_null(cJSON_GetObjectItem(ev, "tau"));
		assert_non_null(cJSON_GetObjectItem(ev, "z_std"));
		assert_non_null(cJSON_GetObjectItem(ev, "time"));
		s->last_step = step;
	} else if (strcmp(type, "epoch") == 0) {
		s->epochs++;
		/* The time the loop waited for batches: part of the epoch's seconds. */
		double waited = cJSON_GetObjectItem(ev, "data_wait_s")->valuedouble;
		double share = cJSON_GetObjectItem(ev, "data_wait_share")->valuedouble;
		double seconds = cJSON_GetObjectItem(ev, "seconds")->valuedouble;
		assert_true(waited >= 0 && waited <= seconds);
		assert_true(share >= 0 && share <= 1 && fabs(share * seconds - waited) < 1e-9 + 1e-6 * waited);
	} else if (strcmp(type, "checkpoint") == 0) {
		s->checkpoints++;
	} else if (strcmp(type, "eval") == 0) {
		const char *kind = cJSON_GetObjectItem(ev, "kind")->valuestring;
		*(strcmp(kind, "knn") == 0 ? &s->knn : &s->linear) += 1;
	}
	if (s->stop_at && step >= s->stop_at)
		atomic_store(&s->stop, 1);
}

/* Run the engine on a spec; returns its status with the error in e. */
static int run_spec(const struct spec *s, const char *json, const char *sub, const char *resume,
		    long stop_at, struct seen *seen, struct engine_result *r, struct err *e)
{
	char ckpt[256];
	snprintf(ckpt, sizeof ckpt, "%s/%s", dir, sub);
	struct engine_options o = { .checkpoint_dir = ckpt, .resume = resume };
	memset(seen, 0, sizeof *seen);
	seen->stop_at = stop_at;
	struct engine_hooks h = { .event = on_event, .ctx = seen, .stop = &seen->stop };
	return engine_run(s, json, &o, &h, r, e);
}

static void run(const char *sub, const char *resume, long stop_at, struct seen *seen,
		struct engine_result *r)
{
	struct spec s;
	char *json;
	struct err e = { 0 };
	resolve(&s, &json);
	if (run_spec(&s, json, sub, resume, stop_at, seen, r, &e))
		fail_msg("engine: %s", e.msg);
	free(json);
}

static void test_events_and_results(void **state)
{
	(void)state;
	struct seen seen;
	struct engine_result r;
	run("full", NULL, 0, &seen, &r);
	assert_int_equal(r.state, ENGINE_COMPLETED);
	assert_int_equal(r.step, 16);
	assert_int_equal(seen.steps, 8);        /* every 2 of 16 steps */
	assert_int_equal(seen.epochs, 2);
	assert_int_equal(seen.checkpoints, 4);  /* steps 4, 8, 12 and the final 16 */
	assert_int_equal(seen.knn, 2);          /* after epoch 1, and at the end */
	assert_int_equal(seen.linear, 1);
	assert_true(r.top1 > 10 && r.top1 <= 100 && r.top5 >= r.top1);
	assert_true(r.knn_top1 > 10);
	print_message("2 epochs on 512 images: loss %.3f, linear top-1 %.1f%%, kNN %.1f%%\n",
		      r.final_loss, r.top1, r.knn_top1);
	/* keep_last 2: only steps 12 and 16 remain. */
	char path[256];
	snprintf(path, sizeof path, "%s/full/step-00000008.safetensors", dir);
	assert_int_not_equal(access(path, F_OK), 0);
	snprintf(path, sizeof path, "%s/full/step-00000016.safetensors", dir);
	assert_int_equal(access(path, F_OK), 0);
	assert_string_equal(r.checkpoint, path);
}

/* Fewer steps than log_every: the last step is still a point, so the job has a curve. */
static void test_the_last_step_is_a_point(void **state)
{
	(void)state;
	static const char *const sets[] = {
		"data.limit=256", "eval_data.limit=128", "model.width=0.25",
		"model.projector={\"hidden\":64,\"out\":32}",
		"model.predictor={\"hidden\":64,\"out\":32}", "train.batch_size=64",
		"train.epochs=2", "optim.warmup_epochs=0", "train.log_every=100",
		"eval.every_epochs=0", "eval.linear.epochs=0", "eval.knn.k=20", "threads=2",
	};
	struct spec s;
	char *json;
	struct seen seen;
	struct engine_result r;
	struct err e = { 0 };
	resolve_sets(&s, &json, sets, (int)(sizeof sets / sizeof sets[0]));
	if (run_spec(&s, json, "short", NULL, 0, &seen, &r, &e))
		fail_msg("engine: %s", e.msg);
	free(json);
	assert_int_equal(r.step, 8);
	assert_int_equal(seen.steps, 1);
	assert_int_equal(seen.last_step, 8);
}

/* The online encoder of two checkpoints is bit-identical. */
static void assert_same_weights(const char *a, const char *b)
{
	struct st_file fa, fb;
	struct err e;
	assert_int_equal(st_read(&fa, a, 0, &e), 0);
	assert_int_equal(st_read(&fb, b, 0, &e), 0);
	assert_int_equal(fa.n_tensors, fb.n_tensors);
	for (int i = 0; i < fa.n_tensors; i++) {
		const struct st_tensor *ta = &fa.tensors[i], *tb = st_find(&fb, ta->name);
		assert_non_null(tb);
		assert_int_equal(ta->nbytes, tb->nbytes);
		if (memcmp(st_tensor_data(&fa, ta), st_tensor_data(&fb, tb), ta->nbytes) != 0)
			fail_msg("%s differs after resuming", ta->name);
	}
	st_free(&fa);
	st_free(&fb);
}

static void test_resume_is_exact(void **state)
{
	(void)state;
	struct seen seen;
	struct engine_result straight, first, second;
	run("straight", NULL, 0, &seen, &straight);
	run("resumed", NULL, 6, &seen, &first); /* stops after step 6 is reported */
	assert_int_equal(first.state, ENGINE_STOPPED);
	assert_true(first.step >= 6 && first.step < 16);
	run("resumed", first.checkpoint, 0, &seen, &second);
	assert_int_equal(second.state, ENGINE_COMPLETED);
	assert_int_equal(second.step, 16);
	assert_same_weights(straight.checkpoint, second.checkpoint);
	print_message("stopped at step %ld, resumed, final weights identical\n", first.step);
}

/* Two classes of 40 small colour JPEGs and, in the first, one cut off in its data
   (its header reads fine, so it is found only when decoded). */
static void make_folder(char *root, size_t cap)
{
	uint8_t px[12 * 12 * 3];
	char path[512];
	for (int c = 0; c < 2; c++) {
		for (int i = 0; i < 40; i++) {
			for (size_t j = 0; j < sizeof px; j++)
				px[j] = pix((unsigned)(j + (size_t)i * 7), (unsigned)(c * 97 + (j % 3) * 40));
			tmp_path(path, sizeof path, "folder/train/class%d/img%02d.jpg", c, i);
			write_jpeg(path, px, 12, 12, 3, 90);
		}
	}
	tmp_path(path, sizeof path, "folder/train/class0/zz-cut.jpg");
	write_jpeg(path, px, 12, 12, 3, 90);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size - 40), 0);
	tmp_dir(root, cap, "folder");
}

static void folder_spec(struct spec *s, char **json, const char *root, const char *on_error)
{
	char path[600], policy[64];
	snprintf(path, sizeof path, "data.path=\"%s\"", root);
	snprintf(policy, sizeof policy, "data.on_error=%s", on_error);
	const char *sets[] = {
		"data.format=imagefolder", path, policy, "data.channels=3", "data.image_size=8",
		"data.mean=[0.5,0.5,0.5]", "data.std=[0.25,0.25,0.25]", "eval_data.split=train",
		"model.width=0.125", "model.projector={\"hidden\":32,\"out\":16}",
		"model.predictor={\"hidden\":32,\"out\":16}", "train.batch_size=81",
		"train.epochs=2", "optim.warmup_epochs=1", "eval.linear.epochs=1", "eval.knn.k=5",
		"eval.every_epochs=0", "threads=2",
	};
	resolve_sets(s, json, sets, (int)(sizeof sets / sizeof sets[0]));
}

static void test_bad_image(void **state)
{
	(void)state;
	char root[512];
	struct spec s;
	char *json;
	struct seen seen;
	struct engine_result r;
	struct err e = { 0 };
	make_folder(root, sizeof root);
	folder_spec(&s, &json, root, "skip");
	assert_int_equal(run_spec(&s, json, "skip", NULL, 0, &seen, &r, &e), 0);
	assert_int_equal(r.step, 2);
	assert_true(r.skipped_images >= 1);
	free(json);
	folder_spec(&s, &json, root, "fail");
	assert_int_equal(run_spec(&s, json, "fail", NULL, 0, &seen, &r, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "zz-cut.jpg"));
	print_message("on_error fail: %s\n", e.msg);
	free(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_events_and_results),
		cmocka_unit_test(test_the_last_step_is_a_point),
		cmocka_unit_test(test_resume_is_exact),
		cmocka_unit_test(test_bad_image),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
