/* Error names and small helpers shared by every module. */
#include <string.h>

#include "vmem/common.h"

/* The Makefile passes its VERSION, so the programs, the library and libvmem.pc agree. */
#ifndef VMEM_VERSION
#error "VMEM_VERSION must be defined (the Makefile passes -DVMEM_VERSION)"
#endif

const char *vmem_version(void)
{
	return VMEM_VERSION;
}

const char *vmem_strerror(int err)
{
	switch (err) {
	case VMEM_OK: return "success";
	case VMEM_EINVAL: return "invalid argument";
	case VMEM_ENOMEM: return "out of host memory";
	case VMEM_EIO: return "input/output error";
	case VMEM_EFORMAT: return "malformed input";
	case VMEM_ENOSPACE: return "simulated physical memory exhausted";
	case VMEM_EEXIST: return "mapping already present";
	case VMEM_ENOENT: return "not found";
	case VMEM_ERANGE: return "address out of range";
	case VMEM_EEOF: return "end of input";
	case VMEM_ELIMIT: return "configured limit reached";
	}
	return "unknown error";
}

static const char *const page_size_names[VMEM_PAGE_SIZES] = { "4k", "2m", "1g" };

const char *vmem_page_size_name(enum vmem_page_size s)
{
	return (unsigned)s < VMEM_PAGE_SIZES ? page_size_names[s] : "?";
}

int vmem_page_size_parse(const char *s, enum vmem_page_size *out)
{
	for (unsigned i = 0; i < VMEM_PAGE_SIZES; i++) {
		if (strcasecmp(s, page_size_names[i]) == 0) {
			*out = (enum vmem_page_size)i;
			return 0;
		}
	}
	return VMEM_EINVAL;
}
