/* libvmem: the whole public API in one include. */
#ifndef VMEM_VMEM_H
#define VMEM_VMEM_H

#include "vmem/capture.h"
#include "vmem/common.h"
#include "vmem/cost.h"
#include "vmem/guest_ram.h"
#include "vmem/mmu.h"
#include "vmem/mrc.h"
#include "vmem/pager.h"
#include "vmem/pt.h"
#include "vmem/pwc.h"
#include "vmem/ram_dedup.h"
#include "vmem/sweep.h"
#include "vmem/tlb.h"
#include "vmem/trace.h"
#include "vmem/tracegen.h"
#include "vmem/walk.h"
#include "vmem/xcache.h"

#endif
