/*
 * Zipf-distributed ranks: 1..n with P(k) proportional to k^-alpha, drawn by
 * rejection-inversion in O(1) memory (zipf.c describes the method).
 *
 * Concurrency: a sampler is read-only once vmem_zipf_init() has filled it, so threads may
 * share one, each drawing from a random state of its own.
 */
#ifndef VMEM_ZIPF_H
#define VMEM_ZIPF_H

#include <stdint.h>

#include "base/rng.h"

struct vmem_zipf {
	double alpha;
	double n;
	double h_x1;      /* H(1.5) - 1 */
	double h_n;       /* H(n + 0.5) */
	double s;         /* 2 - H^-1(H(2.5) - h(2)) */
};

/* Prepares a sampler of ranks 1..n (n >= 1) with exponent alpha > 0. */
void vmem_zipf_init(struct vmem_zipf *z, uint64_t n, double alpha);

/* A rank in 1..n; draws from rng (fewer than 1.1 doubles per rank on average). */
uint64_t vmem_zipf_sample(const struct vmem_zipf *z, struct rng_xoshiro *rng);

#endif
