/* Helpers shared by the real backend's files (not part of the public API). */
#ifndef VMEM_BACKEND_INTERNAL_H
#define VMEM_BACKEND_INTERNAL_H

#include <stddef.h>

/* printf into err[errlen] (nothing if err is NULL). */
void backend_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
