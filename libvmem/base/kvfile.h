/*
 * Files of KEY=VALUE lines ('#' starts a comment) read into any configuration through a
 * setter. Errors name the file and line: a line too long, a NUL byte (not text), a line
 * without '=', or what the setter said.
 */
#ifndef VMEM_KVFILE_H
#define VMEM_KVFILE_H

#include <stddef.h>
#include <stdio.h>

enum kv_line { KV_LINE_OK, KV_LINE_END, KV_LINE_LONG, KV_LINE_NUL, KV_LINE_READ_ERROR };

/* Reads one line of f into buf (without its '\n'), at most cap - 1 bytes; a longer line
 * or a NUL byte stops it (the rest of the file is not meant to be read after that). */
enum kv_line kv_read_line(FILE *f, char *buf, size_t cap);

/* Sets key to value; 0, or a VMEM_E* code with a message in msg. */
typedef int (*kv_set_fn)(void *ctx, const char *key, const char *value, char *msg,
			 size_t len);

/* Reads path line by line into set(ctx, ...); stops at the first error, which err names
 * as "FILE:LINE: message" (err may be NULL). */
int kv_file_read(const char *path, kv_set_fn set, void *ctx, char *err, size_t errlen);

#endif
