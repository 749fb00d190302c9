/* rng.c — counter-based generator (see rng.h). */
#include "rng.h"

#include <math.h>

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void rng_init(struct rng *r, uint64_t seed, uint64_t stream)
{
	r->key = mix64(mix64(seed + 0x9e3779b97f4a7c15ULL) ^ stream);
	r->ctr = 0;
}

struct rng rng_fork(const struct rng *r, uint64_t stream)
{
	struct rng s;
	rng_init(&s, r->key, stream);
	return s;
}

uint64_t rng_u64(struct rng *r)
{
	return mix64(r->key + 0x9e3779b97f4a7c15ULL * ++r->ctr);
}

float rng_uniform(struct rng *r)
{
	return (float)(rng_u64(r) >> 40) * 0x1.0p-24f;
}

double rng_uniform_f64(struct rng *r)
{
	return (double)(rng_u64(r) >> 11) * 0x1.0p-53;
}

double rng_normal(struct rng *r)
{
	double u1 = 1.0 - rng_uniform_f64(r); /* (0, 1] */
	double u2 = rng_uniform_f64(r);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
