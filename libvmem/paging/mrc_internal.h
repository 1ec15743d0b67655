/*
 * What the TLB needs of a profiler beyond the public API (libvmem/mrc.c): counting one
 * lookup per access for an array probed with several keys per access (the STLB, probed
 * with the 4 KiB and the 2 MiB key).
 */
#ifndef VMEM_MRC_INTERNAL_H
#define VMEM_MRC_INTERNAL_H

#include "vmem/mrc.h"

/*
 * From now on vmem_mrc_lookup only moves entries and remembers the smallest depth found;
 * mrc_group_end counts one lookup at that depth (a miss if none was found) and starts the
 * next group.
 */
void mrc_set_grouped(struct vmem_mrc *p);
void mrc_group_end(struct vmem_mrc *p);

#endif
