/*
 * KVM's binary statistics (kvm_stats.h).
 */
#include "kvm_stats.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n = pread(fd, buf, len, (off_t)off);

	return n == (ssize_t)len ? 0 : -1;
}

int vmm_kvm_stats_open(struct vmm_kvm_stats *s, int kvm_object_fd, char *err, size_t errlen)
{
	struct kvm_stats_header h;
	size_t desc_bytes;
	uint8_t *descs = NULL;
	uint64_t words = 0;

	memset(s, 0, sizeof(*s));
	s->fd = ioctl(kvm_object_fd, KVM_GET_STATS_FD, NULL);
	if (s->fd < 0)
		return fail(err, errlen, "KVM_GET_STATS_FD: %s", strerror(errno));
	if (read_at(s->fd, &h, sizeof(h), 0) < 0)
		goto bad;
	/* A name has at most name_size bytes, NUL included; refuse absurd layouts. */
	if (h.num_desc == 0 || h.num_desc > 4096 || h.name_size == 0 || h.name_size > 4096)
		goto bad;
	if (h.name_size <= sizeof(s->id) && read_at(s->fd, s->id, h.name_size, h.id_offset) == 0)
		s->id[sizeof(s->id) - 1] = 0;
	desc_bytes = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = malloc(desc_bytes * h.num_desc);
	s->stats = calloc(h.num_desc, sizeof(*s->stats));
	if (!descs || !s->stats)
		goto bad;
	if (read_at(s->fd, descs, desc_bytes * h.num_desc, h.desc_offset) < 0)
		goto bad;
	for (uint32_t i = 0; i < h.num_desc; i++) {
		const struct kvm_stats_desc *d = (const void *)(descs + desc_bytes * i);
		struct vmm_kvm_stat *st = &s->stats[i];
		uint64_t end;

		snprintf(st->name, sizeof(st->name), "%.*s", (int)h.name_size, d->name);
		st->flags = d->flags;
		st->offset = d->offset;
		st->size = d->size;
		end = ((uint64_t)d->offset + 8ull * d->size) / 8;
		if (d->offset % 8 || d->size == 0 || end > (1u << 20))
			goto bad;
		if (end > words)
			words = end;
	}
	s->count = h.num_desc;
	s->data_offset = h.data_offset;
	s->buf_words = words;
	s->buf = calloc(words, sizeof(uint64_t));
	free(descs);
	if (!s->buf) {
		vmm_kvm_stats_close(s);
		return fail(err, errlen, "out of memory");
	}
	return 0;
bad:
	free(descs);
	vmm_kvm_stats_close(s);
	return fail(err, errlen, "KVM statistics: unreadable or unexpected header");
}

int vmm_kvm_stats_read(struct vmm_kvm_stats *s, char *err, size_t errlen)
{
	if (read_at(s->fd, s->buf, s->buf_words * 8, s->data_offset) < 0)
		return fail(err, errlen, "KVM statistics %s: %s", s->id, strerror(errno));
	for (uint32_t i = 0; i < s->count; i++) {
		struct vmm_kvm_stat *st = &s->stats[i];
		uint64_t sum = 0;

		for (uint16_t j = 0; j < st->size; j++)
			sum += s->buf[st->offset / 8 + j];
		st->value = sum;
	}
	return 0;
}

const struct vmm_kvm_stat *vmm_kvm_stats_find(const struct vmm_kvm_stats *s, const char *name)
{
	for (uint32_t i = 0; i < s->count; i++)
		if (strcmp(s->stats[i].name, name) == 0)
			return &s->stats[i];
	return NULL;
}

const char *vmm_kvm_stat_type(uint32_t flags)
{
	switch (flags & KVM_STATS_TYPE_MASK) {
	case KVM_STATS_TYPE_CUMULATIVE: return "cumulative";
	case KVM_STATS_TYPE_INSTANT: return "instant";
	case KVM_STATS_TYPE_PEAK: return "peak";
	case KVM_STATS_TYPE_LINEAR_HIST: return "linear histogram";
	case KVM_STATS_TYPE_LOG_HIST: return "log histogram";
	default: return "unknown";
	}
}

void vmm_kvm_stats_close(struct vmm_kvm_stats *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->stats);
	free(s->buf);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}
