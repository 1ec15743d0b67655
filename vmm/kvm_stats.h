/*
 * KVM's binary statistics (KVM_GET_STATS_FD on a VM or vCPU fd; Documentation/virt/kvm/
 * api.rst, 4.133 "KVM_GET_STATS_FD"): the file starts with a header that says where the
 * id, the descriptors and the data are; each descriptor names a statistic, its type
 * (cumulative, instant, peak, histograms), unit and size (how many u64 values). Nothing
 * is assumed about which statistics exist or where: they are read from the descriptors.
 *
 * Concurrency: one thread per vmm_kvm_stats; the kernel's counters may move meanwhile.
 */
#ifndef VMM_KVM_STATS_H
#define VMM_KVM_STATS_H

#include <stdint.h>
#include <stdio.h>

struct vmm_kvm_stat {
	char name[64];
	uint32_t flags;       /* KVM_STATS_TYPE_* | KVM_STATS_UNIT_* | KVM_STATS_BASE_* */
	uint32_t offset;      /* of its data from the data block's start */
	uint16_t size;        /* u64 values: 1 for a plain counter, more for a histogram */
	uint64_t value;       /* the sum of its values at the last read */
};

struct vmm_kvm_stats {
	int fd;
	char id[64];          /* "kvm-PID" or "kvm-PID/vcpu-N" */
	uint32_t data_offset;
	uint32_t count;
	struct vmm_kvm_stat *stats;
	uint64_t *buf;        /* the data block */
	uint64_t buf_words;
};

/* Opens the statistics of a VM or vCPU fd and reads its descriptors. -1 with the reason. */
int vmm_kvm_stats_open(struct vmm_kvm_stats *s, int kvm_object_fd, char *err, size_t errlen);

/* Reads every value now. -1 with the reason. */
int vmm_kvm_stats_read(struct vmm_kvm_stats *s, char *err, size_t errlen);

/* The statistic called name, or NULL. */
const struct vmm_kvm_stat *vmm_kvm_stats_find(const struct vmm_kvm_stats *s, const char *name);

/* "cumulative", "instant", "peak", "linear histogram", "log histogram". */
const char *vmm_kvm_stat_type(uint32_t flags);

void vmm_kvm_stats_close(struct vmm_kvm_stats *s);

#endif
