/* libvmem: the whole public API in one include. */
#ifndef VMEM_VMEM_H
#define VMEM_VMEM_H

#include "vmem/balloon.h"
#include "vmem/balloon_channel.h"
#include "vmem/capture.h"
#include "vmem/common.h"
#include "vmem/cost.h"
#include "vmem/guest_ram.h"
#include "vmem/host.h"
#include "vmem/host_policy.h"
#include "vmem/mmu.h"
#include "vmem/mrc.h"
#include "vmem/pager.h"
#include "vmem/pt.h"
#include "vmem/pwc.h"
#include "vmem/ram_balloon.h"
#include "vmem/ram_dedup.h"
#include "vmem/ram_manager.h"
#include "vmem/snapshot.h"
#include "vmem/sweep.h"
#include "vmem/tlb.h"
#include "vmem/trace.h"
#include "vmem/tracegen.h"
#include "vmem/tracker.h"
#include "vmem/walk.h"
#include "vmem/xcache.h"

#endif
