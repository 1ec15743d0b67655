/*
 * Demand phases of a multi-VM scenario: from simulated time T on, VM v runs at rate R
 * (records per turn as a multiple of the quantum; 0 idles it). A file of lines
 * "TIME_MS VM RATE", '#' starting a comment, times in any order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vmem/host.h"

#include "base/kvfile.h"
#include "base/parse.h"

#define PHASES_MAX 100000

struct phase {
	uint64_t at_ms;
	uint16_t vm;
	double rate;
};

struct vmem_host_phases {
	struct phase *p;
	size_t n;
};

static int by_time(const void *a, const void *b)
{
	const struct phase *x = a, *y = b;

	return x->at_ms < y->at_ms ? -1 : x->at_ms > y->at_ms;
}

static int line_error(char *err, size_t errlen, const char *path, unsigned line,
		      const char *what)
{
	snprintf(err, errlen, "%s:%u: %s", path, line, what);
	return VMEM_EFORMAT;
}

int vmem_host_phases_load(const char *path, struct vmem_host_phases **out, char *err,
			  size_t errlen)
{
	FILE *f = fopen(path, "r");
	struct vmem_host_phases *ph;
	char buf[256];
	unsigned line = 0;
	struct stat st;
	int rc = 0;

	*out = NULL;
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return VMEM_EIO;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		snprintf(err, errlen, "%s: is a directory; expected lines of TIME_MS VM RATE", path);
		return VMEM_EIO;
	}
	ph = calloc(1, sizeof(*ph));
	if (!ph) {
		fclose(f);
		snprintf(err, errlen, "out of memory");
		return VMEM_ENOMEM;
	}
	for (enum kv_line lr; (lr = kv_read_line(f, buf, sizeof(buf))) != KV_LINE_END;) {
		char t[64], v[64], r[64], extra[2];
		uint64_t at, vm;
		double rate;
		char *hash = strchr(buf, '#');
		int n;

		line++;
		if (lr != KV_LINE_OK) {
			rc = lr == KV_LINE_READ_ERROR ?
			     (snprintf(err, errlen, "%s:%u: read error: %s", path, line,
				       strerror(errno)), VMEM_EIO) :
			     line_error(err, errlen, path, line, lr == KV_LINE_LONG ?
					"line longer than 254 bytes" : "NUL byte: expected text");
			break;
		}
		if (hash)
			*hash = '\0';
		n = sscanf(buf, "%63s %63s %63s %1s", t, v, r, extra);
		if (n <= 0)
			continue;
		if (n != 3) {
			rc = line_error(err, errlen, path, line, "expected TIME_MS VM RATE");
			break;
		}
		if (!vmem_parse_u64(t, &at) || !vmem_parse_u64(v, &vm) || vm > UINT16_MAX ||
		    !vmem_parse_double(r, &rate) || rate < 0 || rate > 1000) {
			rc = line_error(err, errlen, path, line, "expected TIME_MS (a whole number), "
					"VM (0..65535) and RATE (0..1000)");
			break;
		}
		if (ph->n == PHASES_MAX) {
			rc = line_error(err, errlen, path, line, "more than 100000 phases");
			break;
		}
		if (!(ph->n & (ph->n + 1)) || ph->n == 0) {
			struct phase *np = realloc(ph->p, (ph->n * 2 + 2) * sizeof(*np));

			if (!np) {
				rc = line_error(err, errlen, path, line, "out of memory");
				break;
			}
			ph->p = np;
		}
		ph->p[ph->n++] = (struct phase){ at, (uint16_t)vm, rate };
	}
	fclose(f);
	if (rc) {
		vmem_host_phases_free(ph);
		return rc;
	}
	qsort(ph->p, ph->n, sizeof(*ph->p), by_time);
	*out = ph;
	return 0;
}

double vmem_host_phases_rate(const struct vmem_host_phases *ph, uint16_t vm, uint64_t now_ms)
{
	double rate = 1.0;

	for (size_t i = 0; ph && i < ph->n && ph->p[i].at_ms <= now_ms; i++)
		if (ph->p[i].vm == vm)
			rate = ph->p[i].rate;
	return rate;
}

uint64_t vmem_host_phases_next(const struct vmem_host_phases *ph, uint64_t now_ms)
{
	for (size_t i = 0; ph && i < ph->n; i++)
		if (ph->p[i].at_ms > now_ms)
			return ph->p[i].at_ms;
	return UINT64_MAX;
}

void vmem_host_phases_free(struct vmem_host_phases *ph)
{
	if (ph)
		free(ph->p);
	free(ph);
}
