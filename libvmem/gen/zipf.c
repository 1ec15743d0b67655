/*
 * Zipf sampler by rejection-inversion (Hörmann and Derflinger, "Rejection-inversion to
 * generate variates from monotone discrete distributions", ACM TOMACS 6(3), 1996).
 *
 * Ranks 1..n with P(k) proportional to k^-alpha: with the hat function h(x) = x^-alpha
 * and its integral H(x) = (x^(1-alpha) - 1) / (1 - alpha) (log x when alpha = 1), draw
 * u uniformly in (H(1.5) - 1, H(n + 0.5)], invert x = H^-1(u), round to k; accept at once
 * when k - x <= s (a constant that makes the test cheap for most draws), else when
 * u >= H(k + 0.5) - h(k). Expected draws per variate are below 1.1 for every alpha and n,
 * memory is O(1), and H is evaluated through log1p/expm1 so alpha near 1 loses no
 * precision (the formulation of Apache Commons Math's ZipfRejectionInversionSampler).
 */
#include <math.h>

#include "zipf.h"

/* log1p(x) / x, continuous at 0. */
static double zipf_helper1(double x)
{
	if (fabs(x) > 1e-8)
		return log1p(x) / x;
	return 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x));
}

/* expm1(x) / x, continuous at 0. */
static double zipf_helper2(double x)
{
	if (fabs(x) > 1e-8)
		return expm1(x) / x;
	return 1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x));
}

/* h(x) = x^-alpha */
static double zipf_h(const struct vmem_zipf *z, double x)
{
	return exp(-z->alpha * log(x));
}

/* H(x) = (x^(1-alpha) - 1) / (1 - alpha), log(x) at alpha = 1. */
static double zipf_hint(const struct vmem_zipf *z, double x)
{
	double lx = log(x);

	return zipf_helper2((1.0 - z->alpha) * lx) * lx;
}

static double zipf_hint_inv(const struct vmem_zipf *z, double x)
{
	double t = x * (1.0 - z->alpha);

	if (t < -1.0)
		t = -1.0;   /* guards rounding at the lower end; H^-1 is 1 there */
	return exp(zipf_helper1(t) * x);
}

void vmem_zipf_init(struct vmem_zipf *z, uint64_t n, double alpha)
{
	z->alpha = alpha;
	z->n = (double)n;
	z->h_x1 = zipf_hint(z, 1.5) - 1.0;
	z->h_n = zipf_hint(z, z->n + 0.5);
	z->s = 2.0 - zipf_hint_inv(z, zipf_hint(z, 2.5) - zipf_h(z, 2.0));
}

uint64_t vmem_zipf_sample(const struct vmem_zipf *z, struct rng_xoshiro *rng)
{
	for (;;) {
		double u = z->h_n + rng_xoshiro_double(rng) * (z->h_x1 - z->h_n);
		double x = zipf_hint_inv(z, u);
		double kd = floor(x + 0.5);

		if (kd < 1.0)
			kd = 1.0;
		else if (kd > z->n)
			kd = z->n;
		if (kd - x <= z->s || u >= zipf_hint(z, kd + 0.5) - zipf_h(z, kd))
			return (uint64_t)kd;
	}
}
