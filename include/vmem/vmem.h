/* libvmem: the whole public API. */
#ifndef VMEM_VMEM_H
#define VMEM_VMEM_H

#include "vmem/common.h"
#include "vmem/trace.h"

#endif
