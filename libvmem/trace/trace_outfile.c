/* Output files that appear whole or not at all: see trace_outfile.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace_outfile.h"

int outfile_begin(struct outfile *o, const char *target, char *err, size_t len)
{
	const char *slash = strrchr(target, '/');
	size_t dirlen = slash ? (size_t)(slash - target) + 1 : 0;
	struct stat st;
	mode_t mode;
	int fd;

	o->target = target;
	o->tmp = NULL;
	if (strcmp(target, "-") == 0)
		return 0;
	if (stat(target, &st) == 0) {
		if (!S_ISREG(st.st_mode))
			return 0;
		mode = st.st_mode & 07777;
	} else {
		mode_t mask = umask(0);

		umask(mask);
		mode = 0666 & ~mask;
	}
	/* "DIR/.NAME.XXXXXX": same folder, so the rename stays within one file system. */
	o->tmp = malloc(strlen(target) + 9);
	if (!o->tmp) {
		snprintf(err, len, "%s: out of memory", target);
		return -1;
	}
	sprintf(o->tmp, "%.*s.%s.XXXXXX", (int)dirlen, target, target + dirlen);
	fd = mkstemp(o->tmp);
	if (fd < 0) {
		snprintf(err, len, "%s: cannot create: %s", target, strerror(errno));
		free(o->tmp);
		o->tmp = NULL;
		return -1;
	}
	fchmod(fd, mode);
	close(fd);
	return 0;
}

const char *outfile_path(const struct outfile *o)
{
	return o->tmp ? o->tmp : o->target;
}

int outfile_commit(struct outfile *o, char *err, size_t len)
{
	int rc = 0;

	if (!o->tmp)
		return 0;
	if (rename(o->tmp, o->target) != 0) {
		snprintf(err, len, "%s: cannot replace: %s", o->target, strerror(errno));
		unlink(o->tmp);
		rc = -1;
	}
	free(o->tmp);
	o->tmp = NULL;
	return rc;
}

void outfile_abort(struct outfile *o)
{
	if (!o->tmp)
		return;
	unlink(o->tmp);
	free(o->tmp);
	o->tmp = NULL;
}

int outfile_stdout_close(const char *prog, int status)
{
	bool failed;

	if (status != 0)
		return status;
	/* fclose, not fflush: a file on NFS may report the error only at close. */
	errno = 0;
	failed = ferror(stdout) != 0;
	failed |= fclose(stdout) != 0;
	if (!failed)
		return 0;
	if (errno)
		fprintf(stderr, "%s: <stdout>: write error: %s\n", prog, strerror(errno));
	else
		fprintf(stderr, "%s: <stdout>: write error\n", prog);
	return 1;
}

bool outfile_same(const char *in, const char *out)
{
	struct stat a, b;

	if ((strcmp(in, "-") == 0 ? fstat(STDIN_FILENO, &a) : stat(in, &a)) != 0)
		return false;
	if ((strcmp(out, "-") == 0 ? fstat(STDOUT_FILENO, &b) : stat(out, &b)) != 0)
		return false;
	/* Only a regular file can be destroyed this way: /dev/null in and out is fine. */
	return S_ISREG(a.st_mode) && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}
