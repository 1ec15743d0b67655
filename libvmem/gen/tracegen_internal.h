/*
 * Private to the trace generator: the constants its configuration checks
 * (tracegen_config.c) and its generation (tracegen.c) both rely on.
 */
#ifndef VMEM_TRACEGEN_INTERNAL_H
#define VMEM_TRACEGEN_INTERNAL_H

/* Zipf draws, and unmap/protect events cover, pages of this size. */
#define GEN_PAGE 4096ull
/* Bytes of an instruction fetch; code_size is a multiple of it. */
#define GEN_IFETCH_SIZE 4u

#endif
