/*
 * Configuration files: one KEY=VALUE per line, '#' starts a comment, blank lines are
 * skipped. Shared by every configuration that reads files (the translation machine's,
 * the host manager's).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "vmem/common.h"

#include "kvfile.h"

/* Strips leading and trailing blanks in place. */
static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Reads one line of f into buf (without its '\n'), at most cap - 1 bytes. */
enum kv_line kv_read_line(FILE *f, char *buf, size_t cap)
{
	size_t n = 0;
	int ch;

	while ((ch = getc(f)) != EOF && ch != '\n') {
		if (ch == '\0')
			return KV_LINE_NUL;
		if (n + 1 >= cap)
			return KV_LINE_LONG;
		buf[n++] = (char)ch;
	}
	if (ferror(f))
		return KV_LINE_READ_ERROR;
	buf[n] = '\0';
	return ch == EOF && n == 0 ? KV_LINE_END : KV_LINE_OK;
}

int kv_file_read(const char *path, kv_set_fn set, void *ctx, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[512], msg[256];
	unsigned lineno = 0;
	enum kv_line lr;
	struct stat st;
	int rc = 0;

	if (!f) {
		if (err)
			snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return VMEM_EIO;
	}
	/* A directory opens for reading on Linux, then reads as an error. */
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		if (err)
			snprintf(err, errlen, "%s: is a directory; expected a file of KEY=VALUE "
				 "lines", path);
		fclose(f);
		return VMEM_EIO;
	}
	while ((lr = kv_read_line(f, line, sizeof(line))) != KV_LINE_END) {
		char *hash, *s;

		lineno++;
		if (lr != KV_LINE_OK) {
			if (lr == KV_LINE_LONG)
				snprintf(msg, sizeof(msg), "line longer than %zu bytes",
					 sizeof(line) - 2);
			else if (lr == KV_LINE_NUL)
				snprintf(msg, sizeof(msg), "NUL byte: expected text, KEY=VALUE lines");
			else
				snprintf(msg, sizeof(msg), "read error: %s", strerror(errno));
			if (err)
				snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
			rc = lr == KV_LINE_READ_ERROR ? VMEM_EIO : VMEM_EFORMAT;
			break;
		}
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		s = trim(line);
		if (!*s)
			continue;
		char *eq = strchr(s, '=');

		if (eq) {
			*eq = '\0';
			rc = set(ctx, trim(s), trim(eq + 1), msg, sizeof(msg));
		} else {
			snprintf(msg, sizeof(msg), "'%s': expected key=value", s);
			rc = VMEM_EINVAL;
		}
		if (rc) {
			if (err)
				snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
			break;
		}
	}
	fclose(f);
	return rc;
}

