/*
 * eval.c — the kNN monitor and the linear probe on frozen features (see eval.h).
 *
 * Both score the test set by the rank of the true class among the class
 * scores (votes or logits), ties going to the lower class index, so top-1 and
 * top-5 come from one count and never depend on sort stability.
 */
#include "byol/eval.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "byol/loss.h"
#include "nn/ops.h"
#include "rng.h"

#define TOPK 5
#define KNN_BLOCK_FLOATS ((size_t)1 << 23) /* similarity block: 32 MiB */
#define PROBE_BATCH 256
#define PROBE_MOMENTUM 0.9f
#define PROBE_DEFAULT_LR 0.1 /* no held-out split (n < 10): the usual choice */
#define STREAM_SPLIT 0x73706c6974ULL
#define STREAM_EPOCH 0x65706f6368ULL

/* The sweep; lr is per batch of 256 (batch is fixed at 256, so ×1). */
static const double probe_lrs[] = { 0.4, 0.1, 0.025 };
static const double probe_wds[] = { 0.0, 1e-4, 1e-3 };
#define N_LRS (sizeof probe_lrs / sizeof probe_lrs[0])
#define N_WDS (sizeof probe_wds / sizeof probe_wds[0])

/* ==== arguments ========================================================= */

/* One labelled set: pointers, size, labels in range, finite features. */
static int check_set(const struct eval_set *s, const char *name, int dim, int classes,
		     struct err *e)
{
	if (!s || !s->x || !s->y)
		return err_set(e, ERR_INVALID, "eval: %s set is missing", name);
	if (s->n < 1)
		return err_set(e, ERR_INVALID, "eval: %s set is empty", name);
	if (s->n > INT_MAX)
		return err_set(e, ERR_RANGE, "eval: %s set has %zu rows (max %d)", name, s->n,
			       INT_MAX);
	for (size_t i = 0; i < s->n; i++)
		if (s->y[i] < 0 || s->y[i] >= classes)
			return err_set(e, ERR_INVALID,
				       "eval: %s label %d of row %zu not in [0, %d)", name, s->y[i],
				       i, classes);
	const size_t len = s->n * (size_t)dim;
	for (size_t i = 0; i < len; i++)
		if (!isfinite(s->x[i]))
			return err_set(e, ERR_INVALID,
				       "eval: %s feature %d of row %zu is not finite", name,
				       (int)(i % (size_t)dim), i / (size_t)dim);
	return 0;
}

static int check_args(const struct eval_result *r, const struct eval_set *train,
		      const struct eval_set *test, int dim, int classes, struct pool *pool,
		      struct err *e)
{
	if (!r || !pool)
		return err_set(e, ERR_INVALID, "eval: missing result or thread pool");
	if (dim < 1)
		return err_set(e, ERR_INVALID, "eval: feature dim %d < 1", dim);
	if (classes < 2)
		return err_set(e, ERR_INVALID, "eval: %d classes (need at least 2)", classes);
	int rc = check_set(train, "train", dim, classes, e);
	return rc ? rc : check_set(test, "test", dim, classes, e);
}

/* ==== ranking =========================================================== */

/* Rank of class y among scores (classes), 0 = best; ties go to the lower index. */
static int rank_double(const double *score, int classes, int y)
{
	int rank = 0;
	for (int c = 0; c < classes; c++)
		rank += score[c] > score[y] || (score[c] == score[y] && c < y);
	return rank;
}

int eval_rank(const float *score, int classes, int y)
{
	int rank = 0;
	for (int c = 0; c < classes; c++)
		rank += score[c] > score[y] || (score[c] == score[y] && c < y);
	return rank;
}

static void set_result(struct eval_result *r, size_t hit1, size_t hit5, size_t n, double lr,
		       double wd)
{
	r->top1 = 100.0 * (double)hit1 / (double)n;
	r->top5 = 100.0 * (double)hit5 / (double)n;
	r->lr = lr;
	r->wd = wd;
}

/* ==== kNN =============================================================== */

/* Per-thread scratch: a min-heap of the k best (sim, train row) and the class votes. */
struct knn_thread {
	float *sim;    /* k */
	int *idx;      /* k */
	double *votes; /* classes */
	size_t hit1, hit5;
};

struct knn_ctx {
	const int *train_y, *test_y;
	const float *train_inv, *test_inv; /* 1/‖row‖ */
	const float *dots;                 /* rows × n_train raw dot products */
	size_t row0, rows, n_train;
	int k, classes;
	double t;
	struct knn_thread *th;
};

/* 1/max(‖row‖, 1e-12) of each of n rows (F.normalize's eps), accumulated in double. */
static void inv_norms(float *out, const float *x, size_t n, int dim)
{
	for (size_t i = 0; i < n; i++) {
		const float *row = x + i * (size_t)dim;
		double ss = 0.0;
		for (int j = 0; j < dim; j++)
			ss += (double)row[j] * row[j];
		out[i] = (float)(1.0 / fmax(sqrt(ss), 1e-12));
	}
}

static void heap_sift_down(float *sim, int *idx, int n, int i)
{
	for (;;) {
		int m = i, l = 2 * i + 1, r = l + 1;
		if (l < n && sim[l] < sim[m])
			m = l;
		if (r < n && sim[r] < sim[m])
			m = r;
		if (m == i)
			return;
		float ts = sim[i];
		int ti = idx[i];
		sim[i] = sim[m], idx[i] = idx[m];
		sim[m] = ts, idx[m] = ti;
		i = m;
	}
}

/* The k largest cosine similarities of one test row into th's heap (unordered). */
static void knn_top_k(struct knn_thread *th, const float *dots, float inv, const float *train_inv,
		      size_t n_train, int k)
{
	for (int j = 0; j < k; j++) {
		th->sim[j] = dots[j] * inv * train_inv[j];
		th->idx[j] = j;
	}
	for (int i = k / 2 - 1; i >= 0; i--)
		heap_sift_down(th->sim, th->idx, k, i);
	for (size_t j = (size_t)k; j < n_train; j++) {
		float s = dots[j] * inv * train_inv[j];
		if (s > th->sim[0]) {
			th->sim[0] = s;
			th->idx[0] = (int)j;
			heap_sift_down(th->sim, th->idx, k, 0);
		}
	}
}

/* Weighted vote of the heap: exp(sim/t), shifted by the best sim so that a
   small t cannot overflow (a common factor leaves the ranking unchanged). */
static void knn_vote(struct knn_thread *th, const int *train_y, int k, int classes, double t)
{
	float best = th->sim[0];
	for (int j = 1; j < k; j++)
		best = fmaxf(best, th->sim[j]);
	memset(th->votes, 0, (size_t)classes * sizeof(double));
	for (int j = 0; j < k; j++)
		th->votes[train_y[th->idx[j]]] += exp(((double)th->sim[j] - best) / t);
}

static void knn_rows(void *arg, int tid, int nth)
{
	const struct knn_ctx *c = arg;
	struct knn_thread *th = &c->th[tid];
	const int top = c->classes < TOPK ? c->classes : TOPK;
	size_t lo, hi;
	pool_split(c->rows, tid, nth, &lo, &hi);
	for (size_t i = lo; i < hi; i++) {
		const size_t row = c->row0 + i;
		knn_top_k(th, c->dots + i * c->n_train, c->test_inv[row], c->train_inv, c->n_train,
			  c->k);
		knn_vote(th, c->train_y, c->k, c->classes, c->t);
		int rank = rank_double(th->votes, c->classes, c->test_y[row]);
		th->hit1 += rank == 0;
		th->hit5 += rank < top;
	}
}

/* Per-thread scratch in one allocation each for sims, indices and votes. */
static int knn_threads_alloc(struct knn_thread **out, int nth, int k, int classes, struct err *e)
{
	struct knn_thread *th = calloc((size_t)nth, sizeof *th);
	float *sim = malloc((size_t)nth * k * sizeof(float));
	int *idx = malloc((size_t)nth * k * sizeof(int));
	double *votes = malloc((size_t)nth * classes * sizeof(double));
	if (!th || !sim || !idx || !votes) {
		free(th), free(sim), free(idx), free(votes);
		return err_set(e, ERR_NOMEM, "eval: out of memory for kNN scratch");
	}
	for (int i = 0; i < nth; i++) {
		th[i].sim = sim + (size_t)i * k;
		th[i].idx = idx + (size_t)i * k;
		th[i].votes = votes + (size_t)i * classes;
	}
	*out = th;
	return 0;
}

static void knn_threads_free(struct knn_thread *th)
{
	if (th) {
		free(th[0].sim);
		free(th[0].idx);
		free(th[0].votes);
	}
	free(th);
}

int eval_knn(struct eval_result *r, const struct eval_set *train, const struct eval_set *test,
	     int dim, int classes, int k, double t, struct pool *pool, struct err *e)
{
	int rc = check_args(r, train, test, dim, classes, pool, e);
	if (rc)
		return rc;
	if (k < 1 || !(t > 0.0) || !isfinite(t))
		return err_set(e, ERR_INVALID, "eval: kNN needs k >= 1 and t > 0 (k %d, t %g)", k,
			       t);
	const size_t n_train = train->n, n_test = test->n;
	const int nth = pool_threads(pool);
	size_t block = KNN_BLOCK_FLOATS / n_train;
	block = block < 1 ? 1 : block > n_test ? n_test : block;
	struct knn_ctx c = {
		.train_y = train->y, .test_y = test->y, .n_train = n_train, .classes = classes,
		.k = (size_t)k < n_train ? k : (int)n_train, .t = t,
	};
	float *train_inv = malloc(n_train * sizeof(float));
	float *test_inv = malloc(n_test * sizeof(float));
	float *dots = malloc(block * n_train * sizeof(float));
	if (!train_inv || !test_inv || !dots) {
		rc = err_set(e, ERR_NOMEM, "eval: out of memory for kNN (%zu × %zu block)", block,
			     n_train);
		goto out;
	}
	if ((rc = knn_threads_alloc(&c.th, nth, c.k, classes, e)))
		goto out;
	inv_norms(train_inv, train->x, n_train, dim);
	inv_norms(test_inv, test->x, n_test, dim);
	c.train_inv = train_inv, c.test_inv = test_inv, c.dots = dots;
	for (c.row0 = 0; c.row0 < n_test; c.row0 += c.rows) {
		c.rows = n_test - c.row0 < block ? n_test - c.row0 : block;
		gemm(pool, 0, 1, (int)c.rows, (int)n_train, dim, 1.0f,
		     test->x + c.row0 * (size_t)dim, dim, train->x, dim, 0.0f, dots, (int)n_train);
		pool_run(pool, knn_rows, &c);
	}
	size_t hit1 = 0, hit5 = 0;
	for (int i = 0; i < nth; i++)
		hit1 += c.th[i].hit1, hit5 += c.th[i].hit5;
	set_result(r, hit1, hit5, n_test, 0.0, 0.0);
out:
	knn_threads_free(c.th);
	free(dots);
	free(test_inv);
	free(train_inv);
	return rc;
}

/* ==== linear probe ====================================================== */

/* The probe's state; the float arrays share one allocation (arena). */
struct probe {
	struct pool *pool;
	const atomic_int *stop; /* raised: every training ends at its epoch */
	const float *x; /* the set being read: n × dim */
	const int *y;
	int dim, classes;
	float *mean, *inv_std; /* dim: standardisation from the train set */
	float *w, *b;          /* dim × classes, classes */
	float *vw, *vb;        /* momentum buffers, same shapes */
	float *gw, *gb;        /* gradients, same shapes */
	float *xb;             /* PROBE_BATCH × dim standardised rows */
	float *logits;         /* PROBE_BATCH × classes; dlogits in place */
	int yb[PROBE_BATCH];   /* the batch's labels */
	float *arena;
	size_t *split;         /* n_train: the seeded shuffle; last 10% held out */
	size_t *order;         /* n_train: this epoch's order */
};

static int probe_alloc(struct probe *p, size_t n_train, int dim, int classes, struct err *e)
{
	const size_t d = (size_t)dim, wl = d * classes;
	const size_t len = 2 * d + 3 * (wl + classes) + PROBE_BATCH * (d + classes);
	memset(p, 0, sizeof *p);
	p->dim = dim, p->classes = classes;
	p->arena = calloc(len, sizeof(float));
	p->split = malloc(n_train * sizeof(size_t));
	p->order = malloc(n_train * sizeof(size_t));
	if (!p->arena || !p->split || !p->order)
		return err_set(e, ERR_NOMEM, "eval: out of memory for the linear probe");
	float *f = p->arena;
	p->mean = f, f += d;
	p->inv_std = f, f += d;
	p->w = f, f += wl;
	p->vw = f, f += wl;
	p->gw = f, f += wl;
	p->b = f, f += classes;
	p->vb = f, f += classes;
	p->gb = f, f += classes;
	p->xb = f, f += PROBE_BATCH * d;
	p->logits = f;
	return 0;
}

static void probe_free(struct probe *p)
{
	free(p->arena);
	free(p->split);
	free(p->order);
}

/* Per-dimension mean and 1/std (population) of the train set, in double, two passes.
   A constant dimension keeps scale 1. */
static int probe_standardiser(struct probe *p, const struct eval_set *s, struct err *e)
{
	const size_t d = (size_t)p->dim;
	double *acc = calloc(2 * d, sizeof(double));
	if (!acc)
		return err_set(e, ERR_NOMEM, "eval: out of memory for feature statistics");
	double *mean = acc, *var = acc + d;
	for (size_t i = 0; i < s->n; i++)
		for (size_t j = 0; j < d; j++)
			mean[j] += s->x[i * d + j];
	for (size_t j = 0; j < d; j++)
		mean[j] /= (double)s->n;
	for (size_t i = 0; i < s->n; i++)
		for (size_t j = 0; j < d; j++) {
			double v = s->x[i * d + j] - mean[j];
			var[j] += v * v;
		}
	for (size_t j = 0; j < d; j++) {
		double sd = sqrt(var[j] / (double)s->n);
		p->mean[j] = (float)mean[j];
		p->inv_std[j] = sd > 0.0 ? (float)(1.0 / sd) : 1.0f;
	}
	free(acc);
	return 0;
}

struct gather_ctx {
	const struct probe *p;
	const size_t *idx; /* rows of p->x, or NULL: rows first.. */
	size_t first, count;
};

/* xb[r] = (x[row r] − mean) / std for r in this thread's slice. */
static void gather_rows(void *arg, int tid, int nth)
{
	const struct gather_ctx *g = arg;
	const struct probe *p = g->p;
	const size_t d = (size_t)p->dim;
	size_t lo, hi;
	pool_split(g->count, tid, nth, &lo, &hi);
	for (size_t r = lo; r < hi; r++) {
		const size_t row = g->idx ? g->idx[g->first + r] : g->first + r;
		const float *src = p->x + row * d;
		float *dst = p->xb + r * d;
		for (size_t j = 0; j < d; j++)
			dst[j] = (src[j] - p->mean[j]) * p->inv_std[j];
	}
}

/* logits (bs × classes) = standardised rows · w + b. */
static void probe_forward(struct probe *p, const size_t *idx, size_t first, int bs)
{
	struct gather_ctx g = { p, idx, first, (size_t)bs };
	pool_run(p->pool, gather_rows, &g);
	gemm(p->pool, 0, 0, bs, p->classes, p->dim, 1.0f, p->xb, p->dim, p->w, p->classes, 0.0f,
	     p->logits, p->classes);
	for (int i = 0; i < bs; i++)
		for (int c = 0; c < p->classes; c++)
			p->logits[(size_t)i * p->classes + c] += p->b[c];
}

/* Softmax cross-entropy, mean over the batch: logits become dL/dlogits in place;
   gb = their column sums. */
static void probe_softmax_grad(struct probe *p, const size_t *idx, size_t first, int bs)
{
	const int nc = p->classes;
	for (int i = 0; i < bs; i++)
		p->yb[i] = p->y[idx[first + i]];
	softmax_xent(p->logits, p->yb, bs, nc);
	memset(p->gb, 0, (size_t)nc * sizeof(float));
	for (int i = 0; i < bs; i++)
		for (int c = 0; c < nc; c++)
			p->gb[c] += p->logits[(size_t)i * nc + c];
}

/* PyTorch's Nesterov SGD: g += wd·w; v = μv + g; w −= lr·(g + μv). */
static void nesterov(float *w, float *v, const float *g, size_t len, float lr, float wd)
{
	for (size_t i = 0; i < len; i++) {
		float gi = g[i] + wd * w[i];
		v[i] = PROBE_MOMENTUM * v[i] + gi;
		w[i] -= lr * (gi + PROBE_MOMENTUM * v[i]);
	}
}

/* One SGD step on the rows idx[first .. first+bs). */
static void probe_step(struct probe *p, const size_t *idx, size_t first, int bs, float lr,
		       float wd)
{
	probe_forward(p, idx, first, bs);
	probe_softmax_grad(p, idx, first, bs);
	gemm(p->pool, 1, 0, p->dim, p->classes, bs, 1.0f, p->xb, p->dim, p->logits, p->classes,
	     0.0f, p->gw, p->classes);
	nesterov(p->w, p->vw, p->gw, (size_t)p->dim * p->classes, lr, wd);
	nesterov(p->b, p->vb, p->gb, (size_t)p->classes, lr, 0.0f);
}

/* Fisher–Yates with the seeded stream (the modulo bias is < n/2^64). */
static void shuffle(size_t *a, size_t n, uint64_t seed, uint64_t stream)
{
	struct rng r;
	rng_init(&r, seed, stream);
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(rng_u64(&r) % i), t = a[i - 1];
		a[i - 1] = a[j], a[j] = t;
	}
}

static int stopped(const struct probe *p)
{
	return p->stop && atomic_load(p->stop);
}

/* Train from zero on rows[0..n) for `epochs` epochs, cosine lr per step from lr to 0.
   Every setting sees the same shuffles (streams depend on the epoch only). */
static void probe_train(struct probe *p, const size_t *rows, size_t n, int epochs, double lr,
			double wd, uint64_t seed)
{
	const size_t wl = (size_t)p->dim * p->classes;
	memset(p->w, 0, 3 * (wl + p->classes) * sizeof(float)); /* w vw gw b vb gb */
	memcpy(p->order, rows, n * sizeof(size_t));
	const size_t per_epoch = (n + PROBE_BATCH - 1) / PROBE_BATCH;
	const double total = (double)per_epoch * epochs;
	size_t step = 0;
	for (int ep = 0; ep < epochs && !stopped(p); ep++) {
		shuffle(p->order, n, seed, STREAM_EPOCH + (uint64_t)ep);
		for (size_t off = 0; off < n; off += PROBE_BATCH, step++) {
			int bs = n - off < PROBE_BATCH ? (int)(n - off) : PROBE_BATCH;
			double lr_t = lr * 0.5 * (1.0 + cos(M_PI * (double)step / total));
			probe_step(p, p->order, off, bs, (float)lr_t, (float)wd);
		}
	}
}

/* Top-1/top-5 hits of the probe on rows (idx[first..first+n), or first.. when idx is NULL). */
static void probe_score(struct probe *p, const size_t *idx, size_t first, size_t n,
			size_t *hit1, size_t *hit5)
{
	const int top = p->classes < TOPK ? p->classes : TOPK;
	*hit1 = *hit5 = 0;
	for (size_t off = 0; off < n; off += PROBE_BATCH) {
		int bs = n - off < PROBE_BATCH ? (int)(n - off) : PROBE_BATCH;
		probe_forward(p, idx, first + off, bs);
		for (int i = 0; i < bs; i++) {
			size_t row = idx ? idx[first + off + i] : first + off + i;
			int rank = eval_rank(p->logits + (size_t)i * p->classes, p->classes,
					      p->y[row]);
			*hit1 += rank == 0;
			*hit5 += rank < top;
		}
	}
}

/* The (lr, wd) with the best held-out top-1: train on split[0..n_fit), score the rest. */
static void probe_sweep(struct probe *p, size_t n, int epochs, uint64_t seed, double *lr,
			double *wd)
{
	const size_t n_val = n / 10, n_fit = n - n_val;
	size_t best = 0, hit1, hit5;
	*lr = PROBE_DEFAULT_LR, *wd = 0.0;
	if (n_val == 0)
		return;
	for (size_t i = 0; i < N_LRS; i++)
		for (size_t j = 0; j < N_WDS; j++) {
			probe_train(p, p->split, n_fit, epochs, probe_lrs[i], probe_wds[j], seed);
			probe_score(p, p->split, n_fit, n_val, &hit1, &hit5);
			if (hit1 > best || (i == 0 && j == 0)) {
				best = hit1;
				*lr = probe_lrs[i], *wd = probe_wds[j];
			}
		}
}

int eval_linear(struct eval_result *r, const struct eval_set *train, const struct eval_set *test,
		int dim, int classes, int epochs, uint64_t seed, struct pool *pool,
		const atomic_int *stop, struct err *e)
{
	int rc = check_args(r, train, test, dim, classes, pool, e);
	if (rc)
		return rc;
	if (epochs < 1)
		return err_set(e, ERR_INVALID, "eval: linear probe needs epochs >= 1 (got %d)",
			       epochs);
	struct probe p;
	if ((rc = probe_alloc(&p, train->n, dim, classes, e)) ||
	    (rc = probe_standardiser(&p, train, e)))
		goto out;
	p.pool = pool;
	p.stop = stop;
	p.x = train->x, p.y = train->y;
	for (size_t i = 0; i < train->n; i++)
		p.split[i] = i;
	shuffle(p.split, train->n, seed, STREAM_SPLIT);
	double lr, wd;
	probe_sweep(&p, train->n, epochs, seed, &lr, &wd);
	for (size_t i = 0; i < train->n; i++)
		p.split[i] = i;
	probe_train(&p, p.split, train->n, epochs, lr, wd, seed);
	if (stopped(&p)) {
		rc = err_set(e, ERR_STOPPED, "eval: linear probe stopped");
		goto out;
	}
	size_t hit1, hit5;
	p.x = test->x, p.y = test->y;
	probe_score(&p, NULL, 0, test->n, &hit1, &hit5);
	set_result(r, hit1, hit5, test->n, lr, wd);
out:
	probe_free(&p);
	return rc;
}
