/*
 * rng.h — a counter-based random number generator.
 *
 * A stream is a key (derived from a seed and any number of stream ids, e.g.
 * seed, epoch, image index, view) plus a counter; each draw hashes
 * (key, counter) with the SplitMix64 finaliser. Any draw can be recomputed
 * from its coordinates alone, so runs are reproducible and a resumed run
 * sees exactly the draws the uninterrupted run would have seen.
 */
#ifndef BYOL_RNG_H
#define BYOL_RNG_H

#include <stdint.h>

struct rng {
	uint64_t key;
	uint64_t ctr;
};

/* A stream keyed by seed and one stream id; rng_fork derives sub-streams. */
void rng_init(struct rng *r, uint64_t seed, uint64_t stream);
struct rng rng_fork(const struct rng *r, uint64_t stream);

uint64_t rng_u64(struct rng *r);
/* Uniform in [0, 1) with 24 bits (float) or 53 bits (double). */
float rng_uniform(struct rng *r);
double rng_uniform_f64(struct rng *r);
/* Standard normal (Box–Muller, one value per call). */
double rng_normal(struct rng *r);

#endif
