/* Helpers shared by the sweep modules (libvmem/sweep/); not exported. */
#ifndef VMEM_SWEEP_INTERNAL_H
#define VMEM_SWEEP_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "vmem/sweep.h"

/* snprintf into err when it is not NULL. */
void sweep_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The configuration keys but mode, in vmem_mmu_config_keys() order, and their number. */
const char *const *sweep_config_keys(size_t *n);

/* The number of statistics vmem_mmu_stat_names() lists. */
size_t sweep_stat_count(void);

/* Applies one fixed key or configuration file ("@config") to cfg. */
int sweep_apply_set(struct vmem_mmu_config *cfg, const struct vmem_sweep_set *s, char *err,
		    size_t errlen);

#endif
