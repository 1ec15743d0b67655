/*
 * The host end of the balloon channel in vmem-vmm: libvmem's balloon over real guest RAM
 * (vmem/ram_balloon.h) behind the channel's ports. It owns only the data region (memory
 * slot 1): the system region holds the guest's code, tables and the request buffer, and a
 * request naming one of its pages is rejected. vmem_ram_balloon copies each request out of
 * guest memory, checks all of it, rejects it whole with a VMEM_E* status on any bad entry,
 * and drops inflated and reported pages by backing (MADV_DONTNEED on anonymous memory,
 * FALLOC_FL_PUNCH_HOLE on a memfd); the status is in the request's header when the guest's
 * `out` returns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "vmem/balloon_channel.h"
#include "vmem/ram_balloon.h"

#include "vmm.h"

int vmm_balloon_create(struct vmm *m, char *err, size_t errlen)
{
	struct vmem_ram_balloon_config c;

	vmem_ram_balloon_config_default(&c);
	c.regions = 1ull << 1;                   /* the data region only */
	/* The driver's 64 KiB request buffer holds up to 16378 pfns. */
	c.max_entries = 16384;
	return vmem_ram_balloon_create(m->ram, &c, &m->balloon.rb, err, errlen);
}

int vmm_balloon_set_target(struct vmm *m, uint32_t pages)
{
	return vmem_ram_balloon_set_target(m->balloon.rb, pages);
}

int vmm_balloon_port(struct vmm *m, struct vmm_vcpu_ctx *c, uint16_t port, bool write,
		     uint32_t *value)
{
	int rc;

	(void)c;
	if (!m->balloon.rb)
		return -1;
	if (write)
		rc = vmem_ram_balloon_port_out(m->balloon.rb, port, 4, *value);
	else
		rc = vmem_ram_balloon_port_in(m->balloon.rb, port, 4, value);
	/* A rejected request is the guest's business: the status is in its header (or, for a
	 * header outside guest RAM, left as the guest wrote it). Only a port the device does
	 * not serve, or not in this direction, is the VMM's. */
	if (port == VMEM_BCH_PORT_DOORBELL && write)
		return 0;
	return rc < 0 ? -1 : 0;
}

void vmm_balloon_destroy(struct vmm *m)
{
	vmem_ram_balloon_destroy(m->balloon.rb);
	m->balloon.rb = NULL;
}

uint64_t vmm_data_resident_pages(struct vmm *m)
{
	size_t n = (size_t)(m->data_bytes >> 12);
	unsigned char *vec = malloc(n);
	uint64_t count = 0;

	if (!vec)
		return 0;
	if (mincore(m->data_hva, m->data_bytes, vec) == 0)
		for (size_t i = 0; i < n; i++)
			count += vec[i] & 1;
	free(vec);
	return count;
}
