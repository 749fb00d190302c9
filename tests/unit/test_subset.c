/*
 * test_subset.c — views of a data set and the class-balanced draws behind
 * fine-tuning's labelled subsets and the holdout:F splits (data/subset.c),
 * on Fashion-MNIST's test split (1000 images of each of 10 classes): the
 * counts per class for a fraction and for a count, picked and rest disjoint,
 * in file order and covering the set, the same draw for the same seed and
 * another for another, a view's images and labels those of its base, a view
 * of a view, and the errors (too few labels for the classes, bad arguments,
 * indices out of range); spec_holdout's parsing.
 */
#include "dataset_test_util.h"
#include "eval_request.h"

#define FMNIST "/usr/share/datasets/fashion-mnist"

static struct dataset *ds;

static int setup(void **state)
{
	(void)state;
	struct err e;
	if (access(FMNIST "/t10k-images-idx3-ubyte.gz", R_OK) != 0)
		return 0;
	return open_ds(&ds, DATASET_IDX, FMNIST, "test", 0, 1, 0, &e);
}

static int teardown(void **state)
{
	(void)state;
	dataset_free(ds);
	return 0;
}

static void per_class(const struct dataset *d, const size_t *idx, size_t n, int counts[10])
{
	memset(counts, 0, 10 * sizeof counts[0]);
	for (size_t i = 0; i < n; i++)
		counts[dataset_label(d, idx[i])]++;
}

/* picked and rest: ascending, disjoint, together every image. */
static void assert_partition(const struct dataset_draw *d, size_t n)
{
	unsigned char *seen = calloc(n, 1);
	assert_int_equal(d->n_picked + d->n_rest, n);
	for (size_t i = 0; i < d->n_picked; i++) {
		assert_true(i == 0 || d->picked[i] > d->picked[i - 1]);
		seen[d->picked[i]]++;
	}
	for (size_t i = 0; i < d->n_rest; i++) {
		assert_true(i == 0 || d->rest[i] > d->rest[i - 1]);
		seen[d->rest[i]]++;
	}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(seen[i], 1);
	free(seen);
}

static void test_draws(void **state)
{
	(void)state;
	struct dataset_draw a, b, c;
	struct err e;
	int counts[10];
	if (!ds)
		skip();
	assert_int_equal(dataset_draw_balanced(&a, ds, 0.01, 0, 0, 1, &e), 0);
	per_class(ds, a.picked, a.n_picked, counts);
	for (int k = 0; k < 10; k++)
		assert_int_equal(counts[k], 10);
	assert_partition(&a, 10000);
	assert_int_equal(dataset_draw_balanced(&b, ds, 0.01, 0, 0, 1, &e), 0);
	assert_memory_equal(a.picked, b.picked, a.n_picked * sizeof *a.picked);
	assert_int_equal(dataset_draw_balanced(&c, ds, 0.01, 0, 1, 1, &e), 0);
	assert_memory_not_equal(a.picked, c.picked, a.n_picked * sizeof *a.picked);
	dataset_draw_free(&b);
	dataset_draw_free(&c);
	/* another stream of the same seed is another draw too */
	assert_int_equal(dataset_draw_balanced(&b, ds, 0.01, 0, 0, 2, &e), 0);
	assert_memory_not_equal(a.picked, b.picked, a.n_picked * sizeof *a.picked);
	dataset_draw_free(&b);
	dataset_draw_free(&a);

	assert_int_equal(dataset_draw_balanced(&a, ds, 0, 25, 7, 1, &e), 0);
	per_class(ds, a.picked, a.n_picked, counts);
	for (int k = 0; k < 10; k++)
		assert_int_equal(counts[k], k < 5 ? 3 : 2);
	assert_partition(&a, 10000);
	dataset_draw_free(&a);

	assert_int_equal(dataset_draw_balanced(&a, ds, 0, 5, 0, 1, &e), ERR_INVALID);
	assert_non_null(strstr(e.msg, "cannot cover 10 classes"));
	assert_int_equal(dataset_draw_balanced(&a, ds, 1.0, 0, 0, 1, &e), ERR_INVALID);
	assert_int_equal(dataset_draw_balanced(&a, ds, 0, 0, 0, 1, &e), ERR_INVALID);
}

static void test_views(void **state)
{
	(void)state;
	struct dataset_draw d;
	struct dataset *v, *vv;
	struct image a = { 0 }, b = { 0 };
	struct err e;
	if (!ds)
		skip();
	assert_int_equal(dataset_draw_balanced(&d, ds, 0.1, 0, 3, 1, &e), 0);
	assert_int_equal(dataset_subset(&v, ds, d.picked, d.n_picked, &e), 0);
	assert_int_equal(dataset_size(v), 1000);
	assert_int_equal(dataset_classes(v), 10);
	assert_int_equal(dataset_skipped(v), 0);
	for (size_t i = 0; i < d.n_picked; i += 97) {
		assert_int_equal(dataset_label(v, i), dataset_label(ds, d.picked[i]));
		assert_int_equal(dataset_load(v, i, &a, &e), 0);
		assert_int_equal(dataset_load(ds, d.picked[i], &b, &e), 0);
		assert_memory_equal(a.px, b.px, 28 * 28);
	}
	assert_int_equal(dataset_label(v, 1000), -1);
	assert_int_equal(dataset_load(v, 1000, &a, &e), ERR_RANGE);
	size_t two[2] = { 5, 999 };
	assert_int_equal(dataset_subset(&vv, v, two, 2, &e), 0); /* a view of a view */
	assert_int_equal(dataset_label(vv, 1), dataset_label(ds, d.picked[999]));
	assert_int_equal(dataset_load(vv, 0, &a, &e), 0);
	assert_int_equal(dataset_load(ds, d.picked[5], &b, &e), 0);
	assert_memory_equal(a.px, b.px, 28 * 28);
	size_t bad[1] = { 1000 };
	assert_int_equal(dataset_subset(&vv, v, bad, 1, &e), ERR_RANGE);
	assert_int_equal(dataset_subset(&vv, v, bad, 0, &e), ERR_INVALID);
	image_free(&a);
	image_free(&b);
	dataset_free(v);
	dataset_draw_free(&d);
}

static void test_holdout_split(void **state)
{
	(void)state;
	double f = 0;
	assert_int_equal(spec_holdout("holdout:0.1", &f), 1);
	assert_true(f == 0.1);
	assert_int_equal(spec_holdout("test", &f), 0);
	assert_int_equal(spec_holdout("holdouts", &f), 0);
	assert_int_equal(spec_holdout(NULL, &f), 0);
	const char *bad[] = { "holdout:", "holdout:0", "holdout:1", "holdout:1.5", "holdout:x",
			      "holdout:0.1x", "holdout:-0.1", "holdout:nan" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(spec_holdout(bad[i], &f), -1);
	assert_true(spec_labels_ok(0.01) && spec_labels_ok(600) && !spec_labels_ok(1.5) &&
		    !spec_labels_ok(0) && !spec_labels_ok(1e10));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_draws),
		cmocka_unit_test(test_views),
		cmocka_unit_test(test_holdout_split),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
