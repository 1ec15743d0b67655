/*
 * The policy registry: each kind (swap, dedup, balloon) is a list of ops tables found by
 * name, the built-in ones first, then those a program registers. A spec names a policy and
 * its parameters: "name" or "name:key=value:key=value".
 */
#include <stdio.h>
#include <string.h>

#include "host_internal.h"
#include "policy_builtin.h"

#include "base/parse.h"

#define REGISTERED_MAX 32

static const struct vmem_swap_policy_ops *swap_list[REGISTERED_MAX + 1] = SWAP_POLICIES;
static const struct vmem_dedup_ops *dedup_list[REGISTERED_MAX + 1] = DEDUP_POLICIES;
static const struct vmem_balloon_policy_ops *balloon_list[REGISTERED_MAX + 1] = BALLOON_POLICIES;

/* Adds ops to a NULL-terminated list by name; the lists share one shape. */
static int add(const void **list, const void *ops, const char *name,
	       const char *(*name_of)(const void *))
{
	size_t n = 0;

	if (!ops || !name || !name[0] || strchr(name, ':'))
		return VMEM_EINVAL;
	for (; list[n]; n++)
		if (strcmp(name_of(list[n]), name) == 0)
			return VMEM_EEXIST;
	if (n >= REGISTERED_MAX)
		return VMEM_ELIMIT;
	list[n] = ops;
	list[n + 1] = NULL;
	return 0;
}

static const void *find(const void *const *list, const char *name,
			const char *(*name_of)(const void *))
{
	for (size_t n = 0; list[n]; n++)
		if (strcmp(name_of(list[n]), name) == 0)
			return list[n];
	return NULL;
}

static const char *swap_name(const void *o)
{
	return ((const struct vmem_swap_policy_ops *)o)->name;
}

static const char *dedup_name(const void *o)
{
	return ((const struct vmem_dedup_ops *)o)->name;
}

static const char *balloon_name(const void *o)
{
	return ((const struct vmem_balloon_policy_ops *)o)->name;
}

int vmem_swap_policy_register(const struct vmem_swap_policy_ops *ops)
{
	if (!ops || !ops->init || !ops->pick)
		return VMEM_EINVAL;
	return add((const void **)swap_list, ops, ops->name, swap_name);
}

int vmem_dedup_register(const struct vmem_dedup_ops *ops)
{
	if (!ops || !ops->init || !ops->run)
		return VMEM_EINVAL;
	return add((const void **)dedup_list, ops, ops->name, dedup_name);
}

int vmem_balloon_policy_register(const struct vmem_balloon_policy_ops *ops)
{
	if (!ops || !ops->init || !ops->targets)
		return VMEM_EINVAL;
	return add((const void **)balloon_list, ops, ops->name, balloon_name);
}

const struct vmem_swap_policy_ops *vmem_swap_policy_find(const char *name)
{
	return find((const void *const *)swap_list, name, swap_name);
}

const struct vmem_dedup_ops *vmem_dedup_find(const char *name)
{
	return find((const void *const *)dedup_list, name, dedup_name);
}

const struct vmem_balloon_policy_ops *vmem_balloon_policy_find(const char *name)
{
	return find((const void *const *)balloon_list, name, balloon_name);
}

const struct vmem_swap_policy_ops *const *vmem_swap_policies(void)
{
	return swap_list;
}

const struct vmem_dedup_ops *const *vmem_dedups(void)
{
	return dedup_list;
}

const struct vmem_balloon_policy_ops *const *vmem_balloon_policies(void)
{
	return balloon_list;
}

/* ---- specs and parameters ---- */

int policy_parse(const char *spec, char *name, size_t namelen, char *buf, size_t buflen,
		 struct vmem_policy_params *pp, char *err, size_t errlen)
{
	char *p, *next;

	if (strlen(spec) >= buflen) {
		snprintf(err, errlen, "policy spec '%.40s...' is too long", spec);
		return VMEM_EINVAL;
	}
	strcpy(buf, spec);
	pp->n = 0;
	next = strchr(buf, ':');
	if (next)
		*next++ = '\0';
	if (strlen(buf) >= namelen || !buf[0]) {
		snprintf(err, errlen, "policy spec '%s': expected a name before the first ':'", spec);
		return VMEM_EINVAL;
	}
	strcpy(name, buf);
	for (p = next; p; p = next) {
		char *eq;

		next = strchr(p, ':');
		if (next)
			*next++ = '\0';
		eq = strchr(p, '=');
		if (!eq || eq == p) {
			snprintf(err, errlen, "policy %s: expected key=value, got '%s'", name, p);
			return VMEM_EINVAL;
		}
		if (pp->n == sizeof(pp->key) / sizeof(pp->key[0])) {
			snprintf(err, errlen, "policy %s: more than %zu parameters", name,
				 sizeof(pp->key) / sizeof(pp->key[0]));
			return VMEM_EINVAL;
		}
		*eq = '\0';
		pp->key[pp->n] = p;
		pp->value[pp->n++] = eq + 1;
	}
	return 0;
}

const char *vmem_policy_param(const struct vmem_policy_params *pp, const char *key)
{
	const char *v = NULL;

	/* The last one wins, as with repeated configuration keys. */
	for (unsigned i = 0; i < pp->n; i++)
		if (strcmp(pp->key[i], key) == 0)
			v = pp->value[i];
	return v;
}

int vmem_policy_params_check(const struct vmem_policy_params *pp, const char *policy,
			     const char *const *known, char *err, size_t errlen)
{
	for (unsigned i = 0; i < pp->n; i++) {
		size_t k = 0;

		while (known[k] && strcmp(known[k], pp->key[i]) != 0)
			k++;
		if (!known[k]) {
			int n = snprintf(err, errlen, "policy %s has no parameter '%s' (it has:",
					 policy, pp->key[i]);

			for (k = 0; known[k] && n > 0 && (size_t)n < errlen; k++)
				n += snprintf(err + n, errlen - (size_t)n, " %s", known[k]);
			if (n > 0 && (size_t)n < errlen)
				snprintf(err + n, errlen - (size_t)n, "%s)", k ? "" : " none");
			return VMEM_EINVAL;
		}
	}
	return 0;
}

int vmem_policy_param_u64(const struct vmem_policy_params *pp, const char *policy,
			  const char *key, uint64_t def, uint64_t min, uint64_t max,
			  uint64_t *out, char *err, size_t errlen)
{
	const char *v = vmem_policy_param(pp, key);
	uint64_t x = def;

	if (v && !vmem_parse_count(v, &x)) {
		snprintf(err, errlen, "policy %s: %s=%s: expected a whole number", policy, key, v);
		return VMEM_EINVAL;
	}
	if (x < min || x > max) {
		snprintf(err, errlen, "policy %s: %s=%llu is outside %llu..%llu", policy, key,
			 (unsigned long long)x, (unsigned long long)min, (unsigned long long)max);
		return VMEM_EINVAL;
	}
	*out = x;
	return 0;
}

int vmem_policy_param_double(const struct vmem_policy_params *pp, const char *policy,
			     const char *key, double def, double min, double max, double *out,
			     char *err, size_t errlen)
{
	const char *v = vmem_policy_param(pp, key);
	double x = def;

	if (v && !vmem_parse_double(v, &x)) {
		snprintf(err, errlen, "policy %s: %s=%s: expected a number", policy, key, v);
		return VMEM_EINVAL;
	}
	if (!(x >= min && x <= max)) {
		snprintf(err, errlen, "policy %s: %s=%g is outside %g..%g", policy, key, x, min, max);
		return VMEM_EINVAL;
	}
	*out = x;
	return 0;
}
