/*
 * The built-in policies, one file each: swap victim policies in libvmem/host/swap_*.c,
 * same-page deduplication in ksm-dedup/, balloon target policies in balloon-driver/.
 * Adding one: write its file with its ops table, declare the table here, and list it.
 */
#ifndef VMEM_POLICY_BUILTIN_H
#define VMEM_POLICY_BUILTIN_H

#include "vmem/host_policy.h"

extern const struct vmem_swap_policy_ops swap_policy_random;
extern const struct vmem_swap_policy_ops swap_policy_fifo;
extern const struct vmem_swap_policy_ops swap_policy_clock;
extern const struct vmem_swap_policy_ops swap_policy_lru;
extern const struct vmem_swap_policy_ops swap_policy_ws;
extern const struct vmem_dedup_ops dedup_ksm;
extern const struct vmem_balloon_policy_ops balloon_policy_static;
extern const struct vmem_balloon_policy_ops balloon_policy_proportional;
extern const struct vmem_balloon_policy_ops balloon_policy_share_idle_tax;
extern const struct vmem_balloon_policy_ops balloon_policy_pressure;

#define SWAP_POLICIES { &swap_policy_random, &swap_policy_fifo, &swap_policy_clock, \
			&swap_policy_lru, &swap_policy_ws, NULL }
#define DEDUP_POLICIES { &dedup_ksm, NULL }
#define BALLOON_POLICIES { &balloon_policy_static, &balloon_policy_proportional, \
			   &balloon_policy_share_idle_tax, &balloon_policy_pressure, NULL }

#endif
