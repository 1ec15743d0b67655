/*
 * Seeded pseudorandom numbers, the same on every machine.
 *
 * splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators",
 * OOPSLA 2014): a 64-bit counter stepped by the golden ratio and passed through a mixing
 * finaliser. Tiny; the frame allocator draws from it, and it seeds xoshiro256**.
 *
 * xoshiro256** (Blackman and Vigna, "Scrambled linear pseudorandom number generators",
 * ACM TOMS 47(4), 2021; the reference code at https://prng.di.unimi.it/): 256 bits of
 * state, filled by splitmix64 as the xoshiro authors recommend. rng_xoshiro_seed() gives
 * each purpose its own stream, seeded from (seed, stream number) through the splitmix64
 * finaliser. Integers below a bound n come from Lemire's multiply-and-reject method
 * ("Fast random integer generation in an interval", ACM TOMACS 29(1), 2019), which is
 * exactly uniform; doubles in [0, 1) are the top 53 bits times 2^-53.
 *
 * Concurrency: every function touches only the state passed to it.
 */
#ifndef VMEM_RNG_H
#define VMEM_RNG_H

#include <stdint.h>

/* The splitmix64 finaliser: a bijection of 64-bit values. */
static inline uint64_t rng_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The next splitmix64 output; *state is the counter. */
static inline uint64_t rng_next(uint64_t *state)
{
	return rng_mix64(*state += 0x9e3779b97f4a7c15ull);
}

struct rng_xoshiro {
	uint64_t s[4];
};

/* Seeds stream number `stream` of `seed`; distinct streams are independent. */
static inline void rng_xoshiro_seed(struct rng_xoshiro *x, uint64_t seed, uint64_t stream)
{
	uint64_t sm = seed ^ rng_mix64(stream * 0xd1b54a32d192ed03ull + 0x2545f4914f6cdd1dull);

	for (int i = 0; i < 4; i++)
		x->s[i] = rng_next(&sm);
	/* splitmix64 is a bijection of its counter, so four zeros cannot all come out. */
}

static inline uint64_t rng_rotl64(uint64_t v, int k)
{
	return (v << k) | (v >> (64 - k));
}

static inline uint64_t rng_xoshiro_next(struct rng_xoshiro *x)
{
	uint64_t *s = x->s;
	uint64_t result = rng_rotl64(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rng_rotl64(s[3], 45);
	return result;
}

/* GCC and Clang on 64-bit targets; __extension__ keeps -Wpedantic quiet. */
__extension__ typedef unsigned __int128 rng_u128;

/* Uniform in [0, n), n > 0 (Lemire 2019). */
static inline uint64_t rng_xoshiro_below(struct rng_xoshiro *x, uint64_t n)
{
	rng_u128 m = (rng_u128)rng_xoshiro_next(x) * n;
	uint64_t low = (uint64_t)m;

	if (low < n) {
		uint64_t t = -n % n;

		while (low < t) {
			m = (rng_u128)rng_xoshiro_next(x) * n;
			low = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

/* Uniform in [0, 1). */
static inline double rng_xoshiro_double(struct rng_xoshiro *x)
{
	return (double)(rng_xoshiro_next(x) >> 11) * 0x1.0p-53;
}

#endif
