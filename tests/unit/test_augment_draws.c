/*
 * test_augment_draws.c — the parameters BYOL's augmentations draw
 * (daemon/data/augment.h): rates, factors, op orders and crop boxes against
 * their analytic moments (5σ bounds, fixed seeds), and the reproducibility
 * of the per-image RNG streams.
 */
#include "augment_test_util.h"

/* ---- parameter distributions ------------------------------------------- */

enum { N_DRAWS = 20000 };

static void draw_many(struct augment_draw *d, int view, int h, int w)
{
	struct augment_view v;
	augment_view_default(&v, view);
	for (int i = 0; i < N_DRAWS; i++) {
		struct rng r = augment_rng(12345, 7, (uint64_t)i, view);
		augment_draw(&d[i], &v, h, w, &r);
	}
}

/* Binomial rate of flag over the draws: p ± 5σ (exact when p is 0 or 1). */
static void check_rate(const char *what, const int *flag, size_t stride, double p)
{
	int hits = 0;
	for (int i = 0; i < N_DRAWS; i++)
		hits += *(const int *)((const char *)flag + i * stride) != 0;
	double rate = (double)hits / N_DRAWS;
	printf("  %-22s %.4f (want %.2f)\n", what, rate, p);
	assert_5sigma(what, rate, p, fmax(sqrt(p * (1 - p) / N_DRAWS), 1e-12));
}

/* Mean and variance of U(lo, hi) samples, each ± 5σ; every sample inside [lo, hi]. */
static void check_uniform(const char *what, const float *x, size_t stride, int n, double lo,
			  double hi)
{
	double s = 0, s2 = 0, mn = INFINITY, mx = -INFINITY;
	for (int i = 0; i < n; i++) {
		double v = *(const float *)((const char *)x + i * stride);
		s += v;
		s2 += v * v;
		mn = fmin(mn, v);
		mx = fmax(mx, v);
	}
	double mean = s / n, var = s2 / n - mean * mean, w = hi - lo;
	double want_var = w * w / 12, var_se = sqrt(w * w * w * w / 180.0 / n); /* Var(x²) of U */
	printf("  %-22s mean %.5f (want %.5f), var %.6f (want %.6f), range [%.4f, %.4f]\n", what,
	       mean, (lo + hi) / 2, var, want_var, mn, mx);
	assert_true(mn >= lo && mx <= hi);
	assert_true(mn < lo + 0.01 * w && mx > hi - 0.01 * w);
	assert_5sigma(what, mean, (lo + hi) / 2, sqrt(want_var / n));
	assert_5sigma(what, var, want_var, var_se);
}

#define FIELD(d, f) (&(d)[0].f), sizeof *(d)

static void test_rates(void **state)
{
	(void)state;
	struct augment_draw *d = malloc(N_DRAWS * sizeof *d);
	assert_non_null(d);
	for (int view = 1; view <= 2; view++) {
		printf("view %d, %d draws:\n", view, N_DRAWS);
		draw_many(d, view, 32, 32);
		check_rate("flip", FIELD(d, flip), 0.5);
		check_rate("jitter", FIELD(d, jitter), 0.8);
		check_rate("grayscale", FIELD(d, grayscale), 0.2);
		check_rate("solarize", FIELD(d, solarize), view == 1 ? 0.0 : 0.2);
		int blurred = 0, flip_gray = 0, jitter_blur = 0;
		for (int i = 0; i < N_DRAWS; i++) {
			blurred += d[i].sigma > 0;
			flip_gray += d[i].flip && d[i].grayscale;
			jitter_blur += d[i].jitter && d[i].sigma > 0;
		}
		double pb = view == 1 ? 1.0 : 0.1;
		printf("  %-22s %.4f (want %.2f)\n", "blur", (double)blurred / N_DRAWS, pb);
		assert_5sigma("blur", (double)blurred / N_DRAWS, pb,
			      fmax(sqrt(pb * (1 - pb) / N_DRAWS), 1e-12));
		/* Coins are independent: joint rates are products. */
		assert_5sigma("flip ∧ grayscale", (double)flip_gray / N_DRAWS, 0.1,
			      sqrt(0.1 * 0.9 / N_DRAWS));
		assert_5sigma("jitter ∧ blur", (double)jitter_blur / N_DRAWS, 0.8 * pb,
			      sqrt(0.8 * pb * (1 - 0.8 * pb) / N_DRAWS) + 1e-12);
	}
	free(d);
}

static void test_factors(void **state)
{
	(void)state;
	struct augment_draw *d = malloc(N_DRAWS * sizeof *d);
	float *sigma = malloc(N_DRAWS * sizeof *sigma);
	assert_true(d && sigma);
	for (int view = 1; view <= 2; view++) {
		printf("view %d, %d draws:\n", view, N_DRAWS);
		draw_many(d, view, 32, 32);
		check_uniform("brightness δ", FIELD(d, brightness), N_DRAWS, -0.4, 0.4);
		check_uniform("contrast factor", FIELD(d, contrast), N_DRAWS, 0.6, 1.4);
		check_uniform("saturation factor", FIELD(d, saturation), N_DRAWS, 0.8, 1.2);
		check_uniform("hue shift", FIELD(d, hue), N_DRAWS, -0.1, 0.1);
		int n = 0;
		for (int i = 0; i < N_DRAWS; i++)
			if (d[i].sigma > 0)
				sigma[n++] = d[i].sigma;
		assert_true(n > 1000);
		check_uniform("blur sigma", sigma, sizeof *sigma, n, 0.1, 2.0);
	}
	free(sigma);
	free(d);
}

/* Index of a permutation of 0..3 in 0..23 (Lehmer code). */
static int perm_index(const int *p)
{
	int idx = 0;
	for (int i = 0; i < 4; i++) {
		int smaller = 0;
		for (int j = i + 1; j < 4; j++)
			smaller += p[j] < p[i];
		idx = idx * (4 - i) + smaller;
	}
	return idx;
}

static void test_orders(void **state)
{
	(void)state;
	struct augment_draw *d = malloc(N_DRAWS * sizeof *d);
	assert_non_null(d);
	for (int view = 1; view <= 2; view++) {
		int count[24] = { 0 };
		draw_many(d, view, 32, 32);
		for (int i = 0; i < N_DRAWS; i++) {
			int seen = 0;
			for (int k = 0; k < 4; k++)
				seen |= 1 << d[i].order[k];
			assert_int_equal(seen, 15);
			count[perm_index(d[i].order)]++;
		}
		double p = 1.0 / 24, se = sqrt(p * (1 - p) / N_DRAWS);
		int lo = N_DRAWS, hi = 0;
		for (int k = 0; k < 24; k++) {
			assert_5sigma("order frequency", (double)count[k] / N_DRAWS, p, se);
			lo = count[k] < lo ? count[k] : lo;
			hi = count[k] > hi ? count[k] : hi;
		}
		printf("view %d: 24 orders, counts %d..%d (want %.0f ± %.0f at 5σ)\n", view, lo, hi,
		       p * N_DRAWS, 5 * se * N_DRAWS);
	}
	free(d);
}

/*
 * Crop of a square image: (area fraction s, log ratio ℓ) is uniform on
 * [0.08, 1] × [−L, L], L = log 4/3, and an attempt fits iff s ≤ e^{−|ℓ|};
 * the accepted crop is uniform on that region (the fallback has probability
 * ≈ 0.14^10). With a = 0.08 and Z = 2(1 − e^{−L} − aL):
 *   E[ℓ] = 0, E[ℓ²] = (2/Z)(2 − e^{−L}(L² + 2L + 2) − aL³/3),
 *   E[ℓ⁴] = (2/Z)(24 − e^{−L}(L⁴ + 4L³ + 12L² + 24L + 24) − aL⁵/5),
 *   E[s] = (1/Z)((1 − e^{−2L})/2 − a²L), E[s²] = (2/3Z)((1 − e^{−3L})/3 − a³L).
 * Rounding w and h to pixels lets sides up to W + 0.5 fit, which at 224 px
 * raises E[s] by ≈ 0.0019 (≈ 1.2σ here; Monte Carlo of the exact procedure)
 * and E[ℓ²] by < 0.1σ: ℓ is checked at 224 px and s at 2048 px, where the
 * rounding is negligible.
 */
static void test_crop_distribution(void **state)
{
	(void)state;
	struct augment_draw *d = malloc(N_DRAWS * sizeof *d);
	assert_non_null(d);
	const double a = 0.08, L = log(4.0 / 3.0), eL = exp(-L);
	const double z = 2 * (1 - eL - a * L);
	const double el2 = 2 / z * (2 - eL * (L * L + 2 * L + 2) - a * L * L * L / 3);
	const double el4 =
		2 / z * (24 - eL * (pow(L, 4) + 4 * pow(L, 3) + 12 * L * L + 24 * L + 24) - a * pow(L, 5) / 5);
	const double es = ((1 - exp(-2 * L)) / 2 - a * a * L) / z;
	const double es2 = 2 / (3 * z) * ((1 - exp(-3 * L)) / 3 - a * a * a * L);
	for (int run = 0; run < 4; run++) {
		int view = 1 + run % 2, side = run < 2 ? 224 : 2048;
		draw_many(d, view, side, side);
		double s1 = 0, l1 = 0, l2 = 0, area = (double)side * side;
		for (int i = 0; i < N_DRAWS; i++) {
			assert_true(d[i].crop_x >= 0 && d[i].crop_x + d[i].crop_w <= side);
			assert_true(d[i].crop_y >= 0 && d[i].crop_y + d[i].crop_h <= side);
			double s = d[i].crop_w * (double)d[i].crop_h / area;
			double l = log((double)d[i].crop_w / d[i].crop_h);
			assert_true(s >= 0.07 && s <= 1);
			assert_true(fabs(l) <= L + 0.02);
			s1 += s;
			l1 += l;
			l2 += l * l;
		}
		double ms = s1 / N_DRAWS, ml = l1 / N_DRAWS, vl = l2 / N_DRAWS - ml * ml;
		printf("view %d crop %d×%d: area mean %.5f (want %.5f), log-ratio mean %.5f (want 0),"
		       " var %.6f (want %.6f)\n", view, side, side, ms, es, ml, vl, el2);
		if (side > 1000)
			assert_5sigma("area fraction mean", ms, es, sqrt((es2 - es * es) / N_DRAWS));
		assert_5sigma("log-ratio mean", ml, 0, sqrt(el2 / N_DRAWS));
		assert_5sigma("log-ratio variance", vl, el2, sqrt((el4 - el2 * el2) / N_DRAWS));
	}
	free(d);
}

/* Boxes stay inside non-square images; impossible shapes take torchvision's central fallback. */
static void test_crop_bounds(void **state)
{
	(void)state;
	const int shapes[][2] = { { 100, 300 }, { 300, 100 }, { 28, 28 }, { 5, 3 }, { 1, 1 } };
	struct augment_view v;
	augment_view_default(&v, 1);
	for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
		int h = shapes[s][0], w = shapes[s][1];
		for (int i = 0; i < 2000; i++) {
			struct augment_draw d;
			struct rng r = augment_rng(1, 0, (uint64_t)i, 1);
			augment_draw(&d, &v, h, w, &r);
			assert_true(d.crop_w >= 1 && d.crop_h >= 1);
			assert_true(d.crop_x >= 0 && d.crop_x + d.crop_w <= w);
			assert_true(d.crop_y >= 0 && d.crop_y + d.crop_h <= h);
		}
	}
	struct augment_draw d;
	struct rng r = augment_rng(1, 0, 0, 1);
	augment_draw(&d, &v, 1, 1000, &r); /* ratio 1000 > 4/3: h = 1, w = round(4/3) = 1 */
	assert_box(&d, 499, 0, 1, 1);
	r = augment_rng(1, 0, 0, 1);
	augment_draw(&d, &v, 1000, 3, &r); /* ratio 0.003 < 3/4: w = 3, h = round(3/0.75) = 4 */
	assert_box(&d, 0, 498, 3, 4);
}

/* ---- reproducibility --------------------------------------------------- */

static int draws_equal(const struct augment_draw *a, const struct augment_draw *b)
{
	return a->crop_x == b->crop_x && a->crop_y == b->crop_y && a->crop_w == b->crop_w &&
	       a->crop_h == b->crop_h && a->flip == b->flip && a->jitter == b->jitter &&
	       a->brightness == b->brightness && a->contrast == b->contrast &&
	       a->saturation == b->saturation && a->hue == b->hue &&
	       !memcmp(a->order, b->order, sizeof a->order) && a->grayscale == b->grayscale &&
	       a->sigma == b->sigma && a->solarize == b->solarize;
}

static struct augment_draw draw_at(uint64_t seed, uint64_t epoch, uint64_t index, int view)
{
	struct augment_view v;
	struct augment_draw d;
	augment_view_default(&v, view);
	struct rng r = augment_rng(seed, epoch, index, view);
	augment_draw(&d, &v, 224, 224, &r);
	assert_int_equal(r.ctr, AUGMENT_DRAWS);
	return d;
}

static void test_reproducible(void **state)
{
	(void)state;
	struct augment_draw base = draw_at(3, 5, 42, 1), again = draw_at(3, 5, 42, 1);
	assert_true(draws_equal(&base, &again));
	struct augment_draw other[] = { draw_at(4, 5, 42, 1), draw_at(3, 6, 42, 1),
					draw_at(3, 5, 43, 1), draw_at(3, 5, 42, 2),
					draw_at(3, 42, 5, 1) };
	for (size_t i = 0; i < sizeof other / sizeof *other; i++)
		assert_false(draws_equal(&base, &other[i]));
	/* A different view distribution on the same stream changes only what it must. */
	struct augment_view v2;
	augment_view_default(&v2, 2);
	struct rng r = augment_rng(3, 5, 42, 1);
	struct augment_draw d;
	augment_draw(&d, &v2, 224, 224, &r);
	assert_true(d.crop_x == base.crop_x && d.crop_w == base.crop_w && d.flip == base.flip &&
		    d.hue == base.hue && !memcmp(d.order, base.order, sizeof d.order));
}

/* Draws depend only on their coordinates, not on the order images are processed in. */
static void test_order_independent(void **state)
{
	(void)state;
	enum { N = 500 };
	static struct augment_draw fwd[2][N];
	for (int i = 0; i < N; i++)
		for (int v = 1; v <= 2; v++)
			fwd[v - 1][i] = draw_at(9, 1, (uint64_t)i, v);
	for (int i = N - 1; i >= 0; i--) {
		int j = (i * 7919) % N; /* a scrambled order, view 2 first */
		struct augment_draw d2 = draw_at(9, 1, (uint64_t)j, 2), d1 = draw_at(9, 1, (uint64_t)j, 1);
		assert_true(draws_equal(&d1, &fwd[0][j]) && draws_equal(&d2, &fwd[1][j]));
	}
	/* Every draw is consumed whatever the coins and crop attempts said. */
	struct augment_view v;
	augment_view_default(&v, 2);
	for (int i = 0; i < 200; i++) {
		struct augment_draw d;
		struct rng r = augment_rng(1, 2, (uint64_t)i, 2);
		augment_draw(&d, &v, i % 2 ? 1 : 28, i % 2 ? 1000 : 28, &r);
		assert_int_equal(r.ctr, AUGMENT_DRAWS);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rates),
		cmocka_unit_test(test_factors),
		cmocka_unit_test(test_orders),
		cmocka_unit_test(test_crop_distribution),
		cmocka_unit_test(test_crop_bounds),
		cmocka_unit_test(test_reproducible),
		cmocka_unit_test(test_order_independent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
