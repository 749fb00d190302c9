/*
 * test_spec.c — the job spec: the defaults, the order of the layers (preset,
 * spec, set object, set strings), deep merge with arrays replaced, set-string
 * parsing, every class of rejection with its exact field and reason,
 * eval_data inheritance, round trips of the resolved JSON, the embedded
 * presets, allocation failures, and no leaks across many rejections (run
 * under ASan).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "spec.h"

#define LEN(a) (sizeof(a) / sizeof *(a))

/* Resolve from spec text (NULL = none), a preset and set strings; *json (if
 * json is not NULL) receives the resolved spec. */
static int resolve_json(struct spec *s, cJSON **json, const char *text, const char *preset,
			const char *const *sets, int n, struct spec_error *e)
{
	cJSON *spec = text ? cJSON_Parse(text) : NULL;
	if (text)
		assert_non_null(spec);
	struct spec_input in = {.preset = preset, .spec = spec, .set_strings = sets, .n_set_strings = n};
	int rc = spec_resolve(s, json, &in, e);
	cJSON_Delete(spec);
	return rc;
}

static int resolve(struct spec *s, const char *text, const char *preset, const char *const *sets,
		   int n, struct spec_error *e)
{
	return resolve_json(s, NULL, text, preset, sets, n, e);
}

/* Resolve, failing the test with the error if it is rejected. */
static void accept(struct spec *s, const char *text, const char *preset, const char *const *sets,
		   int n)
{
	struct spec_error e;
	if (resolve(s, text, preset, sets, n, &e))
		fail_msg("rejected: %s: %s", e.field, e.reason);
}

static void test_defaults(void **state)
{
	(void)state;
	struct spec s;
	accept(&s, NULL, NULL, NULL, 0);
	assert_string_equal(s.name, "");
	assert_int_equal(s.seed, 0);
	assert_int_equal(s.threads, 0);
	assert_int_equal(s.train.batch_size, 4096);
	assert_int_equal(s.train.epochs, 300);
	assert_int_equal(s.train.log_every, 10);
	assert_true(s.train.tau_base == 0.996);
	assert_true(s.optim.base_lr == 0.2);
	assert_true(fabs(spec_lr(&s) - 3.2) < 1e-12);
	assert_true(s.optim.weight_decay == 1.5e-6);
	assert_true(s.optim.eta == 1e-3);
	assert_true(s.optim.momentum == 0.9);
	assert_true(s.optim.warmup_epochs == 10);
	assert_string_equal(s.optim.name, "lars");
	assert_string_equal(s.model.encoder, "resnet50");
	assert_true(s.model.width == 1.0);
	assert_int_equal(s.model.imagenet_stem, 1);
	assert_int_equal(s.model.proj_hidden, 4096);
	assert_int_equal(s.model.proj_out, 256);
	assert_int_equal(s.model.pred_hidden, 4096);
	assert_int_equal(s.model.pred_out, 256);
	assert_string_equal(s.data.format, "idx");
	assert_string_equal(s.data.path, "/usr/share/datasets/fashion-mnist");
	assert_string_equal(s.data.split, "train");
	assert_int_equal(s.data.limit, 0);
	assert_int_equal(s.data.image_size, 28);
	assert_int_equal(s.data.channels, 1);
	assert_true(s.data.mean[0] == 0.2860f && s.data.std[0] == 0.3530f);
	assert_int_equal(s.data.skip_bad, 1);
	assert_string_equal(s.eval_data.split, "test");
	assert_string_equal(s.eval_data.path, s.data.path);
	for (int v = 0; v < 2; v++) {
		const struct spec_view *w = &s.view[v];
		assert_true(w->scale[0] == 0.08f && w->scale[1] == 1.0f);
		assert_true(w->ratio[0] == 0.75f && w->ratio[1] == 1.3333f);
		assert_true(w->flip == 0.5f && w->jitter_p == 0.8f && w->brightness == 0.4f);
		assert_true(w->contrast == 0.4f && w->saturation == 0.2f && w->hue == 0.1f);
		assert_true(w->grayscale == 0.2f);
		assert_true(w->sigma[0] == 0.1f && w->sigma[1] == 2.0f);
	}
	assert_true(s.view[0].blur_p == 1.0f && s.view[0].solarize == 0.0f);
	assert_true(s.view[1].blur_p == 0.1f && s.view[1].solarize == 0.2f);
	assert_int_equal(s.checkpoint.every_steps, 0);
	assert_true(s.checkpoint.every_seconds == 300);
	assert_int_equal(s.checkpoint.keep_last, 3);
	assert_int_equal(s.eval.linear_epochs, 100);
	assert_int_equal(s.eval.knn_k, 200);
	assert_true(s.eval.knn_t == 0.1);
	assert_int_equal(s.eval.every_epochs, 0);
}

/* preset < spec < set object < set strings, and later sets beat earlier ones. */
static void test_layer_order(void **state)
{
	(void)state;
	cJSON *spec = cJSON_Parse("{\"train\": {\"epochs\": 7, \"batch_size\": 512},"
				  " \"optim\": {\"momentum\": 0.8}, \"seed\": 5}");
	cJSON *set = cJSON_Parse("{\"train.epochs\": 3, \"optim.momentum\": 0.7, \"seed\": 6}");
	const char *sets[] = {"train.epochs=2", "seed=8", "seed=9"};
	struct spec_input in = {.preset = "fmnist-convnet", .spec = spec, .set = set,
				.set_strings = sets, .n_set_strings = LEN(sets)};
	struct spec s;
	struct spec_error e;
	assert_int_equal(spec_resolve(&s, NULL, &in, &e), 0);
	assert_int_equal(s.train.epochs, 2);       /* set string */
	assert_int_equal(s.seed, 9);               /* the last set string */
	assert_true(s.optim.momentum == 0.7);      /* set object */
	assert_int_equal(s.train.batch_size, 512); /* spec */
	assert_true(s.optim.base_lr == 1.0);       /* preset */
	assert_true(s.optim.eta == 0.02);
	assert_true(s.train.tau_base == 0.99);     /* preset, beside spec's train keys */
	assert_true(s.optim.weight_decay == 1.5e-6); /* default */
	assert_true(fabs(spec_lr(&s) - 2.0) < 1e-12);
	cJSON_Delete(spec);
	cJSON_Delete(set);
}

/* Objects merge key by key; arrays replace whole, even with fewer values. */
static void test_deep_merge_arrays_replace(void **state)
{
	(void)state;
	struct spec s;
	accept(&s,
	       "{\"data\": {\"channels\": 3, \"mean\": [0.1, 0.2, 0.3], \"std\": [1, 2, 3]},"
	       " \"augment\": {\"view2\": {\"crop\": {\"scale\": [0.5, 0.75]}, \"solarize\": 0.5}},"
	       " \"model\": {\"projector\": {\"out\": 64}}}",
	       NULL, NULL, 0);
	assert_int_equal(s.data.channels, 3);
	assert_true(s.data.mean[2] == 0.3f && s.data.std[1] == 2.0f);
	assert_true(s.view[1].scale[0] == 0.5f && s.view[1].scale[1] == 0.75f);
	assert_true(s.view[1].ratio[1] == 1.3333f); /* crop.ratio kept */
	assert_true(s.view[1].solarize == 0.5f && s.view[1].blur_p == 0.1f);
	assert_true(s.view[0].scale[0] == 0.08f);
	assert_int_equal(s.model.proj_out, 64);
	assert_int_equal(s.model.proj_hidden, 4096);

	const char *sets[] = {"data.mean=[0.5]", "data.channels=1", "data.std=[0.25]"};
	accept(&s, "{\"data\": {\"channels\": 3, \"mean\": [0.1, 0.2, 0.3], \"std\": [1, 2, 3]}}",
	       NULL, sets, LEN(sets));
	assert_int_equal(s.data.channels, 1);
	assert_true(s.data.mean[0] == 0.5f && s.data.mean[1] == 0.0f);
	assert_true(s.data.std[0] == 0.25f);
}

static void test_set_strings(void **state)
{
	(void)state;
	struct spec s;
	const char *sets[] = {
		"train.epochs=2",
		"optim.warmup_epochs=0.5",         /* within the 2 epochs */
		"model.encoder=resnet18",          /* not JSON: taken as a string */
		"model.stem=\"cifar\"",            /* JSON string */
		"data.mean=[0.5]",
		"name=123",                        /* a string field takes the text */
		"data.split=true",
		"data.path=/srv/data/fm=v2",       /* only the first '=' splits */
		"model.projector={\"hidden\": 512}", /* an object merges */
		"optim.base_lr=5e-1",
		"checkpoint.every_steps=1000",
		"model.conv=winograd",
	};
	accept(&s, NULL, NULL, sets, LEN(sets));
	assert_int_equal(s.model.winograd, 1);
	assert_int_equal(s.train.epochs, 2);
	assert_string_equal(s.model.encoder, "resnet18");
	assert_int_equal(s.model.imagenet_stem, 0);
	assert_true(s.data.mean[0] == 0.5f);
	assert_string_equal(s.name, "123");
	assert_string_equal(s.data.split, "true");
	assert_string_equal(s.data.path, "/srv/data/fm=v2");
	assert_int_equal(s.model.proj_hidden, 512);
	assert_int_equal(s.model.proj_out, 256);
	assert_true(s.optim.base_lr == 0.5);
	assert_true(s.optim.warmup_epochs == 0.5);
	assert_int_equal(s.checkpoint.every_steps, 1000);
}

static void test_set_object(void **state)
{
	(void)state;
	cJSON *set = cJSON_Parse("{\"train.epochs\": 2, \"optim.warmup_epochs\": 1,"
				 " \"model.projector\": {\"out\": 64},"
				 " \"data.mean\": [0.4], \"augment.view1.blur.p\": 0.5,"
				 " \"name\": \"run\"}");
	struct spec_input in = {.set = set};
	struct spec s;
	struct spec_error e;
	assert_int_equal(spec_resolve(&s, NULL, &in, &e), 0);
	assert_int_equal(s.train.epochs, 2);
	assert_int_equal(s.model.proj_out, 64);
	assert_int_equal(s.model.proj_hidden, 4096);
	assert_true(s.data.mean[0] == 0.4f);
	assert_true(s.view[0].blur_p == 0.5f);
	assert_string_equal(s.name, "run");
	cJSON_Delete(set);

	set = cJSON_Parse("[1]");
	in.set = set;
	assert_int_equal(spec_resolve(&s, NULL, &in, &e), ERR_INVALID);
	assert_string_equal(e.field, "set");
	assert_string_equal(e.reason, "expected an object, got an array");
	cJSON_Delete(set);

	set = cJSON_Parse("{\"train.epochs\": \"2\"}");
	in.set = set;
	assert_int_equal(spec_resolve(&s, NULL, &in, &e), ERR_INVALID);
	assert_string_equal(e.field, "train.epochs");
	assert_string_equal(e.reason, "expected a number, got \"2\"");
	cJSON_Delete(set);
}

/* Unset eval_data fields follow the resolved data, whatever layer set it. */
static void test_eval_data_inherits(void **state)
{
	(void)state;
	struct spec s;
	const char *sets[] = {"data.path=/srv/cifar"};
	accept(&s,
	       "{\"data\": {\"format\": \"cifar10\", \"path\": \"/d\", \"image_size\": 32,"
	       " \"channels\": 3, \"mean\": [0.4, 0.5, 0.6], \"std\": [0.2, 0.2, 0.3],"
	       " \"limit\": 50, \"on_error\": \"fail\"}, \"eval_data\": {\"limit\": 7}}",
	       NULL, sets, LEN(sets));
	assert_string_equal(s.eval_data.format, "cifar10");
	assert_string_equal(s.eval_data.path, "/srv/cifar");
	assert_string_equal(s.eval_data.split, "test");
	assert_int_equal(s.eval_data.image_size, 32);
	assert_int_equal(s.eval_data.channels, 3);
	assert_true(s.eval_data.mean[2] == 0.6f && s.eval_data.std[2] == 0.3f);
	assert_int_equal(s.eval_data.skip_bad, 0);
	assert_int_equal(s.eval_data.limit, 7);
	assert_int_equal(s.data.limit, 50);

	const char *own[] = {"eval_data.split=val", "eval_data.path=/e", "eval_data.mean=[0.5]",
			     "eval_data.std=[0.25]"};
	accept(&s, NULL, NULL, own, LEN(own));
	assert_string_equal(s.eval_data.split, "val");
	assert_string_equal(s.eval_data.path, "/e");
	assert_true(s.eval_data.mean[0] == 0.5f && s.data.mean[0] != 0.5f);
	assert_string_equal(s.data.split, "train");

	accept(&s, NULL, "fmnist-quick", NULL, 0);
	assert_int_equal(s.eval_data.limit, 10000);
	assert_string_equal(s.eval_data.split, "test");
}

/* A rejection: spec text and/or one set string, and the exact error. */
struct reject {
	const char *spec, *set, *field, *reason;
};

#define RANGE(lo, hi) "must be in " lo ", " hi
#define PAIR(hi) "must be [a, b] with 0 < a <= b <= " hi
#define SPLIT "must be 1 to 63 characters of [A-Za-z0-9._-], not . or .."

static const struct reject rejects[] = {
	/* unknown keys at every depth */
	{"{\"foo\": 1}", NULL, "foo", "unknown key"},
	{"{\"description\": \"x\"}", NULL, "description", "unknown key"},
	{"{\"data\": {\"colour\": 1}}", NULL, "data.colour", "unknown key"},
	{"{\"model\": {\"projector\": {\"bias\": true}}}", NULL, "model.projector.bias", "unknown key"},
	{"{\"augment\": {\"view2\": {\"jitter\": {\"gamma\": 1}}}}", NULL,
	 "augment.view2.jitter.gamma", "unknown key"},
	{"{\"eval\": {\"linear\": {\"lr\": 0.1}}}", NULL, "eval.linear.lr", "unknown key"},
	{"{\"Seed\": 1}", NULL, "Seed", "unknown key (did you mean seed?)"},
	{NULL, "train.epoch=3", "train.epoch", "unknown key (did you mean train.epochs?)"},
	{NULL, "nosuch.epochs=3", "nosuch", "unknown key"},
	{NULL, "train.epochs.x=3", "train.epochs.x", "unknown key (train.epochs is a number)"},
	{NULL, "data.mean.0=3", "data.mean.0", "unknown key (data.mean is an array)"},
	{NULL, "=3", "", "unknown key"},
	{NULL, "train..epochs=3", "train.", "unknown key"},
	{NULL, "train.epochs", "train.epochs", "expected path=value"},
	/* wrong types */
	{"{\"seed\": \"1\"}", NULL, "seed", "expected a number, got \"1\""},
	{"{\"data\": [1]}", NULL, "data", "expected an object, got an array"},
	{"{\"model\": {\"width\": true}}", NULL, "model.width", "expected a number, got true"},
	{"{\"name\": null}", NULL, "name", "expected a string, got null"},
	{"{\"data\": {\"mean\": 0.5}}", NULL, "data.mean", "expected an array, got 0.5"},
	{"{\"data\": {\"std\": [0.5, \"x\"]}}", NULL, "data.std",
	 "expected an array of numbers, got a string at index 1"},
	{"{\"augment\": {\"view1\": {\"crop\": {\"scale\": {}}}}}", NULL,
	 "augment.view1.crop.scale", "expected an array, got an object"},
	{"{\"optim\": {\"eta\": -1e999}}", NULL, "optim.eta", "must be a finite number"},
	{"{\"data\": {\"mean\": [1e999]}}", NULL, "data.mean", "must hold finite numbers"},
	{NULL, "optim.base_lr=abc", "optim.base_lr", "expected a number, got \"abc\""},
	{NULL, "optim.base_lr=", "optim.base_lr", "expected a number, got \"\""},
	{NULL, "optim.base_lr=1e999", "optim.base_lr", "must be a finite number"},
	{NULL, "model.projector=5", "model.projector", "expected an object, got 5"},
	{NULL, "model={\"width\": \"2\"}", "model.width", "expected a number, got \"2\""},
	{NULL, "data.mean=0.5", "data.mean", "expected an array, got 0.5"},
	{NULL, "train.epochs=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"", "train.epochs",
	 "expected a number, got \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…\""}, /* a long value cut short */
	{NULL, "train.epohcs=3", "train.epohcs", "unknown key (did you mean train.epochs?)"},
	{NULL, "trian.epochs=3", "trian", "unknown key (did you mean train?)"},
	{NULL, "train.zzz=3", "train.zzz", "unknown key"}, /* nothing near it */
	/* integer fields */
	{"{\"train\": {\"epochs\": 2.5}}", NULL, "train.epochs", "expected an integer, got 2.5"},
	{"{\"data\": {\"channels\": 2.5}}", NULL, "data.channels", "expected an integer, got 2.5"},
	{"{\"eval_data\": {\"limit\": 0.5}}", NULL, "eval_data.limit", "expected an integer, got 0.5"},
	{"{\"seed\": 1.5}", NULL, "seed", "expected an integer, got 1.5"},
	{"{\"checkpoint\": {\"every_steps\": 10.5}}", NULL, "checkpoint.every_steps",
	 "expected an integer, got 10.5"},
	{NULL, "model.predictor.hidden=2.5", "model.predictor.hidden", "expected an integer, got 2.5"},
	{NULL, "eval.knn.k=2.5", "eval.knn.k", "expected an integer, got 2.5"},
	/* bounds */
	{NULL, "train.batch_size=1000000000", "train.batch_size", RANGE("[2", "65536]")},
	{NULL, "train.batch_size=1", "train.batch_size", RANGE("[2", "65536]")},
	{NULL, "model.width=1000", "model.width", RANGE("(0", "16]")},
	{NULL, "model.width=0", "model.width", RANGE("(0", "16]")},
	{NULL, "data.image_size=2048", "data.image_size", RANGE("[8", "1024]")},
	{NULL, "data.image_size=4", "data.image_size", RANGE("[8", "1024]")},
	{NULL, "data.channels=2", "data.channels", "must be 1 or 3"},
	{NULL, "data.channels=4", "data.channels", RANGE("[1", "3]")},
	{NULL, "train.epochs=0", "train.epochs", RANGE("[1", "100000]")},
	{NULL, "optim.base_lr=0", "optim.base_lr", RANGE("(0", "100]")},
	{NULL, "optim.base_lr=101", "optim.base_lr", RANGE("(0", "100]")},
	{NULL, "optim.weight_decay=-0.1", "optim.weight_decay", RANGE("[0", "1]")},
	{NULL, "optim.momentum=1", "optim.momentum", RANGE("[0", "1)")},
	{NULL, "optim.eta=0", "optim.eta", RANGE("(0", "1]")},
	{NULL, "optim.warmup_epochs=301", "optim.warmup_epochs",
	 "must be in [0, 300] (train.epochs)"},
	{NULL, "train.epochs=2", "optim.warmup_epochs", "must be in [0, 2] (train.epochs)"},
	{NULL, "optim.warmup_epochs=-1", "optim.warmup_epochs", RANGE("[0", "100000]")},
	{NULL, "train.tau_base=1.5", "train.tau_base", RANGE("[0", "1]")},
	/* the encoder reads eval images as training images (a mismatch overflowed) */
	{"{\"eval_data\": {\"channels\": 3, \"mean\": [0, 0, 0], \"std\": [1, 1, 1]}}", NULL,
	 "eval_data.channels",
	 "must equal data.channels (1): the encoder takes 1-channel images"},
	{NULL, "eval_data.image_size=32", "eval_data.image_size",
	 "must equal data.image_size (28): evaluation sees images at the size the encoder "
	 "trained on"},
	{NULL, "train.log_every=0", "train.log_every", RANGE("[1", "1000000]")},
	{NULL, "threads=1025", "threads", RANGE("[0", "1024]")},
	{NULL, "threads=-1", "threads", RANGE("[0", "1024]")},
	{NULL, "seed=1000000000000000", "seed", RANGE("[0", "999999999999999]")},
	{NULL, "seed=-1", "seed", RANGE("[0", "999999999999999]")},
	{NULL, "data.limit=-1", "data.limit", RANGE("[0", "999999999999999]")},
	{NULL, "model.projector.hidden=0", "model.projector.hidden", RANGE("[1", "65536]")},
	{NULL, "model.predictor.out=65537", "model.predictor.out", RANGE("[1", "65536]")},
	{NULL, "data.mean=[0.1, 0.2]", "data.mean", "must have 1 value per channel (channels = 1)"},
	{"{\"data\": {\"channels\": 3}}", NULL, "data.mean",
	 "must have 1 value per channel (channels = 3)"},
	{"{\"eval_data\": {\"channels\": 3, \"mean\": [0, 0, 0]}}", NULL, "eval_data.std",
	 "must have 1 value per channel (channels = 3)"},
	{NULL, "data.std=[0]", "data.std", "values must be in [1e-06, 1000]"},
	{NULL, "data.mean=[-2000]", "data.mean", "values must be in [-1000, 1000]"},
	{NULL, "augment.view1.flip=1.5", "augment.view1.flip", RANGE("[0", "1]")},
	{NULL, "augment.view2.blur.p=-0.1", "augment.view2.blur.p", RANGE("[0", "1]")},
	{NULL, "augment.view1.jitter.p=2", "augment.view1.jitter.p", RANGE("[0", "1]")},
	{NULL, "augment.view1.jitter.brightness=1.5", "augment.view1.jitter.brightness",
	 RANGE("[0", "1]")},
	{NULL, "augment.view2.jitter.saturation=-1", "augment.view2.jitter.saturation",
	 RANGE("[0", "1]")},
	{NULL, "augment.view1.jitter.hue=0.6", "augment.view1.jitter.hue", RANGE("[0", "0.5]")},
	{NULL, "augment.view1.grayscale=7", "augment.view1.grayscale", RANGE("[0", "1]")},
	{NULL, "augment.view2.solarize=1.01", "augment.view2.solarize", RANGE("[0", "1]")},
	{NULL, "augment.view1.crop.scale=[0.5, 0.2]", "augment.view1.crop.scale", PAIR("1")},
	{NULL, "augment.view1.crop.scale=[0, 1]", "augment.view1.crop.scale", PAIR("1")},
	{NULL, "augment.view1.crop.scale=[0.5, 1.5]", "augment.view1.crop.scale", PAIR("1")},
	{NULL, "augment.view1.crop.scale=[0.2]", "augment.view1.crop.scale", "must have 2 values"},
	{NULL, "augment.view2.crop.ratio=[0.5, 200]", "augment.view2.crop.ratio", PAIR("100")},
	{NULL, "augment.view2.blur.sigma=[0, 1]", "augment.view2.blur.sigma", PAIR("100")},
	{NULL, "augment.view2.blur.sigma=[1, 2, 3]", "augment.view2.blur.sigma",
	 "must have 2 values"},
	{NULL, "checkpoint.every_steps=-1", "checkpoint.every_steps",
	 RANGE("[0", "999999999999999]")},
	{NULL, "checkpoint.every_seconds=-1", "checkpoint.every_seconds", RANGE("[0", "1000000000]")},
	{NULL, "checkpoint.keep_last=0", "checkpoint.keep_last", RANGE("[1", "1000]")},
	{NULL, "checkpoint.keep_last=1001", "checkpoint.keep_last", RANGE("[1", "1000]")},
	{NULL, "eval.linear.epochs=10001", "eval.linear.epochs", RANGE("[0", "10000]")},
	{NULL, "eval.knn.k=0", "eval.knn.k", RANGE("[1", "10000]")},
	{NULL, "eval.knn.t=0", "eval.knn.t", RANGE("(0", "100]")},
	{NULL, "eval.every_epochs=-1", "eval.every_epochs", RANGE("[0", "100000]")},
	/* choices */
	{NULL, "data.format=png", "data.format",
	 "unknown format \"png\" (idx, cifar10, cifar100, imagefolder)"},
	{NULL, "eval_data.format=png", "eval_data.format",
	 "unknown format \"png\" (idx, cifar10, cifar100, imagefolder)"},
	{NULL, "data.on_error=ignore", "data.on_error",
	 "unknown on_error policy \"ignore\" (skip, fail)"},
	{NULL, "model.encoder=resnet99", "model.encoder",
	 "unknown encoder \"resnet99\" (convnet, resnet18, resnet34, resnet50)"},
	{NULL, "model.stem=tiny", "model.stem", "unknown stem \"tiny\" (cifar, imagenet)"},
	{NULL, "model.conv=fft", "model.conv", "unknown convolution \"fft\" (exact, winograd)"},
	{NULL, "optim.name=adam", "optim.name", "unknown optimizer \"adam\" (lars, sgd)"},
	{NULL, "distributed.launcher=ssh", "distributed.launcher",
	 "unknown launcher \"ssh\" (mpirun, srun)"},
	/* distributed placement: nothing that mpirun or ssh would take for an option */
	{NULL, "distributed.hosts=[\"-Fconfig\"]", "distributed.hosts",
	 "each must be a host name or address (a letter or digit, then letters, digits, '.', "
	 "'-', '_', ':')"},
	{NULL, "distributed.hosts=[\"a b\"]", "distributed.hosts",
	 "each must be a host name or address (a letter or digit, then letters, digits, '.', "
	 "'-', '_', ':')"},
	{NULL, "distributed.hosts=[1]", "distributed.hosts",
	 "expected an array of strings, got a number at index 0"},
	{NULL, "distributed.hostfile=hosts", "distributed.hostfile", "must be an absolute path"},
	{NULL, "distributed.ranks=0", "distributed.ranks", RANGE("[1", "4096]")},
	/* strings */
	{NULL, "name=a\nb", "name", "must be printable UTF-8"},
	{NULL, "name=a\x7f", "name", "must be printable UTF-8"},
	{NULL, "name=\xff", "name", "must be printable UTF-8"},
	{NULL, "name=\xc0\xaf", "name", "must be printable UTF-8"},     /* overlong '/' */
	{NULL, "name=\xed\xa0\x80", "name", "must be printable UTF-8"}, /* surrogate */
	{NULL, "name=\xc2\x85", "name", "must be printable UTF-8"},     /* C1 control */
	{NULL, "name=\xe2\x82", "name", "must be printable UTF-8"},     /* truncated */
	{NULL, "data.path=relative/dir", "data.path", "must be an absolute path"},
	{NULL, "data.path=", "data.path", "must be an absolute path"},
	{NULL, "eval_data.path=x", "eval_data.path", "must be an absolute path"},
	{NULL, "data.split=", "data.split", SPLIT},
	{NULL, "data.split=..", "data.split", SPLIT},
	{NULL, "eval_data.split=../etc", "eval_data.split", SPLIT},
	{NULL, "data.split=a b", "data.split", SPLIT},
	/* whole sources */
	{"[1]", NULL, "spec", "expected an object, got an array"},
	{"\"fmnist-quick\"", NULL, "spec", "expected an object, got a string"},
};

/* Check one rejection; says which case on a mismatch. */
static void check_reject(const struct reject *r)
{
	struct spec s;
	struct spec_error e;
	cJSON *json = (cJSON *)1;
	int rc = resolve_json(&s, &json, r->spec, NULL, &r->set, r->set != NULL, &e);
	if (rc != ERR_INVALID || strcmp(e.field, r->field) || strcmp(e.reason, r->reason))
		fail_msg("spec %s set %s: rc %d, %s: %s; want %s: %s", r->spec ? r->spec : "-",
			 r->set ? r->set : "-", rc, e.field, e.reason, r->field, r->reason);
	assert_null(json);
	assert_int_equal(s.train.epochs, 0); /* *out is zeroed */
}

static void test_rejects(void **state)
{
	(void)state;
	for (size_t i = 0; i < LEN(rejects); i++)
		check_reject(&rejects[i]);
}

/* Strings over their byte limits; valid UTF-8 and limits exactly met pass. */
static void test_string_limits(void **state)
{
	(void)state;
	static char name[140], path[4110];
	struct spec s;
	struct spec_error e;
	const char *set[] = {name};
	snprintf(name, sizeof name, "name=%0128d", 0);
	accept(&s, NULL, NULL, set, 1);
	assert_int_equal(strlen(s.name), 128);
	snprintf(name, sizeof name, "name=%0129d", 0);
	assert_int_equal(resolve(&s, NULL, NULL, set, 1, &e), ERR_INVALID);
	assert_string_equal(e.field, "name");
	assert_string_equal(e.reason, "must be at most 128 bytes");
	snprintf(name, sizeof name, "name=%s", "Ωmega ✓ 🎉 run-1");
	accept(&s, NULL, NULL, set, 1);
	assert_string_equal(s.name, "Ωmega ✓ 🎉 run-1");

	set[0] = path;
	memset(path, 'a', sizeof path - 1);
	memcpy(path, "data.path=/", 11);
	path[10 + 4096] = 0;
	accept(&s, NULL, NULL, set, 1);
	assert_int_equal(strlen(s.data.path), 4096);
	path[10 + 4096] = 'a';
	path[10 + 4097] = 0;
	assert_int_equal(resolve(&s, NULL, NULL, set, 1, &e), ERR_INVALID);
	assert_string_equal(e.field, "data.path");
	assert_string_equal(e.reason, "must be at most 4096 bytes");

	snprintf(name, sizeof name, "data.split=%063d", 0);
	set[0] = name;
	accept(&s, NULL, NULL, set, 1);
	snprintf(name, sizeof name, "data.split=%064d", 0);
	assert_int_equal(resolve(&s, NULL, NULL, set, 1, &e), ERR_INVALID);
	assert_string_equal(e.field, "data.split");
}

/* Long unknown keys and paths are reported, truncated, without overflow. */
static void test_long_keys(void **state)
{
	(void)state;
	static char text[600], set[600];
	struct spec s;
	struct spec_error e;
	snprintf(text, sizeof text, "{\"data\": {\"%0300d\": 1}}", 7);
	assert_int_equal(resolve(&s, text, NULL, NULL, 0, &e), ERR_INVALID);
	assert_int_equal(strlen(e.field), sizeof e.field - 1);
	assert_memory_equal(e.field, "data.000", 8);
	assert_string_equal(e.reason, "unknown key");

	snprintf(set, sizeof set, "train.%0300d=1", 7);
	const char *sets[] = {set};
	assert_int_equal(resolve(&s, NULL, NULL, sets, 1, &e), ERR_INVALID);
	assert_int_equal(strlen(e.field), sizeof e.field - 1);
	assert_string_equal(e.reason, "unknown key");
}

static void test_unknown_preset(void **state)
{
	(void)state;
	struct spec s;
	struct spec_error e;
	assert_int_equal(resolve(&s, NULL, "fmnist-slow", NULL, 0, &e), ERR_INVALID);
	assert_string_equal(e.field, "preset");
	assert_string_equal(e.reason, "unknown preset \"fmnist-slow\" (fmnist-convnet, fmnist-quick)");
}

/* Resolving the resolved JSON again, as a tree or from its text (how the history and
 * checkpoints keep it), gives the same struct and the same JSON. */
static void check_round_trip(const char *text, const char *preset, const char *const *sets, int n)
{
	struct spec a, b;
	struct spec_error e;
	cJSON *ja, *jb;
	assert_int_equal(resolve_json(&a, &ja, text, preset, sets, n, &e), 0);
	struct spec_input in = {.spec = ja};
	assert_int_equal(spec_resolve(&b, &jb, &in, &e), 0);
	assert_memory_equal(&a, &b, sizeof a);
	char *pa = cJSON_PrintUnformatted(ja), *pb = cJSON_PrintUnformatted(jb);
	assert_string_equal(pa, pb);
	cJSON *again = cJSON_Parse(pa);
	assert_true(cJSON_Compare(again, ja, 1));
	in.spec = again;
	assert_int_equal(spec_resolve(&b, NULL, &in, &e), 0);
	assert_memory_equal(&a, &b, sizeof a);
	cJSON_Delete(again);
	free(pa);
	free(pb);
	cJSON_Delete(ja);
	cJSON_Delete(jb);
}

static void test_round_trip(void **state)
{
	(void)state;
	const char *sets[] = {"seed=999999999999999", "optim.weight_decay=1.5e-6",
			      "augment.view1.crop.ratio=[0.3333333333333333, 3]",
			      "checkpoint.every_seconds=0.1", "name=ünïcode", "data.limit=123456789012",
			      "optim.base_lr=0.30000000000000004", "data.mean=[-0]"};
	check_round_trip(NULL, NULL, NULL, 0);
	check_round_trip(NULL, "fmnist-convnet", NULL, 0);
	check_round_trip(NULL, "fmnist-quick", sets, LEN(sets));
	check_round_trip("{\"data\": {\"channels\": 3, \"mean\": [0.5, 0.5, 0.5], \"std\": [1, 1, 1]},"
			 " \"eval_data\": {\"split\": \"val\","
			 " \"mean\": [0.1, 0.2, 0.3], \"std\": [0.3, 0.2, 0.1]}}",
			 NULL, NULL, 0);

	/* the resolved JSON has every field, eval_data included */
	struct spec s;
	struct spec_error e;
	cJSON *j;
	assert_int_equal(resolve_json(&s, &j, NULL, "fmnist-quick", NULL, 0, &e), 0);
	const cJSON *eval = cJSON_GetObjectItemCaseSensitive(j, "eval_data");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(eval, "split")->valuestring, "test");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(eval, "limit")->valuedouble, 10000);
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "description"));
	cJSON_Delete(j);
}

/* Many rejections of every kind, each with a resolved pointer: ASan's leak
 * checker fails the run if any leaves memory behind. */
static void test_rejects_leak_nothing(void **state)
{
	(void)state;
	cJSON *set = cJSON_Parse("{\"train.epochs\": 2, \"model.projector\": {\"out\": \"x\"}}");
	for (int i = 0; i < 1000; i++) {
		check_reject(&rejects[(size_t)i % LEN(rejects)]);
		struct spec s;
		struct spec_error e;
		cJSON *json;
		struct spec_input in = {.preset = i % 2 ? "fmnist-quick" : NULL, .set = set};
		assert_int_equal(spec_resolve(&s, &json, &in, &e), ERR_INVALID);
		assert_string_equal(e.field, "model.projector.out");
	}
	cJSON_Delete(set);
}

/* cJSON allocations fail from the fail_from-th on (counting from 0). */
static long n_allocs, fail_from;

static void *failing_malloc(size_t n)
{
	return n_allocs++ >= fail_from ? NULL : malloc(n);
}

/* Every allocation failure is reported as out of memory, leaving nothing
 * behind; once enough allocations succeed, the same input resolves. */
static void test_out_of_memory(void **state)
{
	(void)state;
	cJSON *spec = cJSON_Parse("{\"data\": {\"limit\": 5}, \"eval_data\": {\"split\": \"val\"}}");
	cJSON *set = cJSON_Parse("{\"model.projector\": {\"out\": 64}}");
	const char *sets[] = {"train.epochs=3", "model.encoder=resnet18"};
	struct spec_input in = {.preset = "fmnist-quick", .spec = spec, .set = set,
				.set_strings = sets, .n_set_strings = LEN(sets)};
	cJSON_Hooks hooks = {.malloc_fn = failing_malloc, .free_fn = free};
	cJSON_InitHooks(&hooks);
	int rc = ERR_NOMEM;
	for (fail_from = 0; rc; fail_from++) {
		struct spec s;
		struct spec_error e;
		cJSON *json;
		n_allocs = 0;
		rc = spec_resolve(&s, &json, &in, &e);
		if (rc) {
			assert_int_equal(rc, ERR_NOMEM);
			assert_string_equal(e.reason, "out of memory");
			assert_null(json);
		} else {
			assert_int_equal(s.model.proj_out, 64);
			cJSON_Delete(json);
		}
		cJSON_Delete(spec_preset_list_json());
	}
	cJSON_InitHooks(NULL);
	assert_true(fail_from > 100);
	cJSON_Delete(spec);
	cJSON_Delete(set);
}

static void test_presets(void **state)
{
	(void)state;
	assert_int_equal(spec_n_presets, 2);
	assert_null(spec_find_preset("nope"));
	for (int i = 0; i < spec_n_presets; i++) {
		const struct spec_preset *p = &spec_presets[i];
		assert_ptr_equal(spec_find_preset(p->name), p);
		assert_true(strlen(p->description) > 10);
		cJSON *j = cJSON_Parse(p->json);
		assert_true(cJSON_IsObject(j));
		assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "description")->valuestring,
				    p->description);
		cJSON_Delete(j);
	}

	struct spec s;
	accept(&s, NULL, "fmnist-convnet", NULL, 0);
	assert_string_equal(s.name, "fmnist-convnet");
	assert_string_equal(s.model.encoder, "convnet");
	assert_true(s.model.width == 1.0);
	assert_int_equal(s.model.imagenet_stem, 0);
	assert_int_equal(s.model.proj_hidden, 1024);
	assert_int_equal(s.model.proj_out, 128);
	assert_int_equal(s.model.pred_hidden, 1024);
	assert_int_equal(s.model.pred_out, 128);
	assert_string_equal(s.optim.name, "lars");
	assert_true(s.optim.eta == 0.02 && s.optim.base_lr == 1.0);
	assert_true(s.optim.weight_decay == 1.5e-6 && s.optim.warmup_epochs == 2);
	assert_int_equal(s.train.epochs, 20);
	assert_int_equal(s.train.batch_size, 256);
	assert_true(s.train.tau_base == 0.99);
	assert_int_equal(s.eval.every_epochs, 5);
	assert_string_equal(s.data.path, "/usr/share/datasets/fashion-mnist");
	assert_int_equal(s.data.limit, 0);

	accept(&s, NULL, "fmnist-quick", NULL, 0);
	assert_string_equal(s.name, "fmnist-quick");
	assert_int_equal(s.data.limit, 10000);
	assert_int_equal(s.train.epochs, 10);
	assert_int_equal(s.eval.linear_epochs, 30);
	assert_int_equal(s.model.proj_hidden, 1024);

	cJSON *list = spec_preset_list_json();
	assert_int_equal(cJSON_GetArraySize(list), 2);
	const cJSON *first = cJSON_GetArrayItem(list, 0);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(first, "name")->valuestring,
			    "fmnist-convnet");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(first, "description")->valuestring,
			    spec_presets[0].description);
	assert_string_equal(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(list, 1), "name")->valuestring,
		"fmnist-quick");
	cJSON_Delete(list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_layer_order),
		cmocka_unit_test(test_deep_merge_arrays_replace),
		cmocka_unit_test(test_set_strings),
		cmocka_unit_test(test_set_object),
		cmocka_unit_test(test_eval_data_inherits),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_string_limits),
		cmocka_unit_test(test_long_keys),
		cmocka_unit_test(test_unknown_preset),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_rejects_leak_nothing),
		cmocka_unit_test(test_out_of_memory),
		cmocka_unit_test(test_presets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
