/*
 * KVM's dirty log over the data region (--dirty-log): memory slot 1 gets
 * KVM_MEM_LOG_DIRTY_PAGES, and after every guest command the VMM fetches and clears the
 * bitmap with KVM_GET_DIRTY_LOG (Documentation/virt/kvm/api.rst, 4.8 and 4.35). The pages
 * KVM saw written are compared with the pages the guest's pattern says the command wrote:
 * every page of the slice (and the balloon pool) for the fill, the window's own pages for a
 * pass, none for a check, a ping or a balloon request. Exactly, without swapping. With
 * --swap, a page the pager brought back during the command may be logged too although the
 * guest only read it (vcpu_loop.c says why), so the log may hold up to that many more.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "pattern.h"
#include "vmm.h"

int vmm_dirty_log_enable(struct vmm *m, char *err, size_t errlen)
{
	struct kvm_userspace_memory_region slot = {
		.slot = 1, .flags = KVM_MEM_LOG_DIRTY_PAGES, .guest_phys_addr = VMM_DATA_GPA,
		.memory_size = m->data_bytes, .userspace_addr = (uint64_t)(uintptr_t)m->data_hva,
	};

	/* One bit per page, in 64-bit words (the kernel writes whole longs). */
	m->dirty_bitmap = calloc((m->data_pages + 63) / 64, sizeof(uint64_t));
	if (!m->dirty_bitmap) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (ioctl(m->kvm.vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0) {
		snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION with KVM_MEM_LOG_DIRTY_PAGES: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

uint64_t vmm_dirty_log_fetch(struct vmm *m)
{
	struct kvm_dirty_log log = { .slot = 1, .dirty_bitmap = m->dirty_bitmap };
	uint64_t n = 0;

	if (ioctl(m->kvm.vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
		return UINT64_MAX;
	for (uint64_t i = 0; i < (m->data_pages + 63) / 64; i++)
		n += (uint64_t)__builtin_popcountll(m->dirty_bitmap[i]);
	return n;
}

uint64_t vmm_dirty_expected(const struct vmm_vcpu_ctx *c, enum vmm_step step, uint32_t pass,
			    bool first)
{
	const struct vmm_vcpu_block *b = c->block;
	uint64_t n = 0, start;

	switch (step) {
	case STEP_FILL:
		/* The pool's pages are written when the guest starts, before its first command. */
		return b->pages + (first ? b->pool_pages : 0);
	case STEP_PASSES:
		start = vmm_window_start(pass, b->step, b->pages);
		for (uint64_t j = 0; j < b->window; j++)
			n += !vmm_page_is_shared(b->first_page + (start + j) % b->pages, b->dup_every);
		return n;
	default:
		return 0;
	}
}
