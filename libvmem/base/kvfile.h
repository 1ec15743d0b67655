/*
 * Files of KEY=VALUE lines ('#' starts a comment) read into any configuration through a
 * setter. Errors name the file and line: a line too long, a NUL byte (not text), a line
 * without '=', or what the setter said.
 */
#ifndef VMEM_KVFILE_H
#define VMEM_KVFILE_H

#include <stddef.h>

/* Sets key to value; 0, or a VMEM_E* code with a message in msg. */
typedef int (*kv_set_fn)(void *ctx, const char *key, const char *value, char *msg,
			 size_t len);

/* Reads path line by line into set(ctx, ...); stops at the first error, which err names
 * as "FILE:LINE: message" (err may be NULL). */
int kv_file_read(const char *path, kv_set_fn set, void *ctx, char *err, size_t errlen);

#endif
