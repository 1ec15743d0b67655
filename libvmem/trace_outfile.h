/*
 * Output files that appear whole or not at all (used by vmem-trace and vmem-gen; not
 * installed).
 *
 * An output is written to a temporary file in the target's folder and renamed over the
 * target only when everything was written, so a failed run never leaves a partial file
 * or destroys the one that was there. Standard output ("-") and targets that are not
 * regular files (a FIFO, /dev/null, a terminal) are written directly: they cannot be
 * replaced by a rename, and must not be.
 */
#ifndef VMEM_TRACE_OUTFILE_H
#define VMEM_TRACE_OUTFILE_H

#include <stdbool.h>
#include <stddef.h>

struct vmem_outfile {
	const char *target;   /* the path given */
	char *tmp;            /* temporary file written instead, or NULL when direct */
};

/*
 * Prepares writing to target. Returns 0 and the path to write to in
 * vmem_outfile_path(), or -1 with a one-line reason in err.
 */
int vmem_outfile_begin(struct vmem_outfile *o, const char *target, char *err, size_t len);

/* Where to write: the temporary file, or the target itself when direct. */
const char *vmem_outfile_path(const struct vmem_outfile *o);

/* Renames the temporary file over the target; -1 with err if that fails (it is removed). */
int vmem_outfile_commit(struct vmem_outfile *o, char *err, size_t len);

/* Removes the temporary file, leaving the target as it was. */
void vmem_outfile_abort(struct vmem_outfile *o);

/*
 * True if writing to out would write to the regular file in is: the same device and
 * inode ("-" is standard input for in, standard output for out). False when out does
 * not exist yet.
 */
bool vmem_outfile_same(const char *in, const char *out);

/*
 * The exit status of a program that ends with `status`: when it is 0, standard output is
 * closed and checked, and if anything printed was not written (a full disk, /dev/full)
 * "PROG: <stdout>: write error: REASON" is printed and the status becomes 1. A failing
 * status is returned as it is (the program has said why).
 */
int vmem_stdout_close(const char *prog, int status);

#endif
