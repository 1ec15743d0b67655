/* Value parsers shared by the configuration modules; see parse.h. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parse.h"

/*
 * Unsigned number: decimal, or hex after 0x; then an optional suffix, k/m/g/t, scaling
 * by unit^1..4 (unit 1024 for byte amounts, 1000 for counts; 0 = no suffix allowed).
 */
static bool parse_scaled(const char *s, unsigned unit, uint64_t *out)
{
	const char *p = s;
	int base = 10;
	uint64_t v = 0, mul = 1;
	bool digits = false;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (;; p++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / (uint64_t)base)
			return false;
		v = v * (uint64_t)base + d;
		digits = true;
	}
	if (!digits)
		return false;
	if (*p && unit) {
		const char *sfx = "kmgt";
		const char *q = strchr(sfx, *p | 0x20);

		if (!q || !*q)
			return false;
		for (long e = 0; e <= q - sfx; e++)
			mul *= unit;
		p++;
		/* Accept "64M", "64MB", "64MiB" too. */
		if (unit == 1024 && (*p == 'i' || *p == 'I'))
			p++;
		if (unit == 1024 && (*p == 'b' || *p == 'B'))
			p++;
	}
	if (*p)
		return false;
	if (mul > 1 && v > UINT64_MAX / mul)
		return false;
	*out = v * mul;
	return true;
}

bool vmem_parse_u64(const char *s, uint64_t *out)
{
	return parse_scaled(s, 0, out);
}

bool vmem_parse_count(const char *s, uint64_t *out)
{
	return parse_scaled(s, 1000, out);
}

bool vmem_parse_bytes(const char *s, uint64_t *out)
{
	return parse_scaled(s, 1024, out);
}

bool vmem_parse_double(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || errno || !isfinite(v))
		return false;
	*out = v;
	return true;
}

bool vmem_parse_bool(const char *s, enum vmem_parse_case match, bool *out)
{
	static const char *const yes[] = { "1", "yes", "true", "on" };
	static const char *const no[] = { "0", "no", "false", "off" };
	int (*cmp)(const char *, const char *) =
		match == VMEM_PARSE_CASE_ANY ? strcasecmp : strcmp;

	for (unsigned i = 0; i < 4; i++) {
		if (cmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (cmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}
