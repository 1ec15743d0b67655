/*
 * Output files that appear whole or not at all, and the check of standard output, for
 * the programs (vmem-trace, vmem-gen, vmemsim, vmem-walk link libvmem.a). Not installed,
 * and not exported by libvmem.so (not vmem_ names).
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

struct outfile {
	const char *target;   /* the path given */
	char *tmp;            /* temporary file written instead, or NULL when direct */
};

/*
 * Prepares writing to target. Returns 0 and the path to write to in
 * outfile_path(), or -1 with a one-line reason in err.
 */
int outfile_begin(struct outfile *o, const char *target, char *err, size_t len);

/* Where to write: the temporary file, or the target itself when direct. */
const char *outfile_path(const struct outfile *o);

/* Renames the temporary file over the target; -1 with err if that fails (it is removed). */
int outfile_commit(struct outfile *o, char *err, size_t len);

/* Removes the temporary file, leaving the target as it was. */
void outfile_abort(struct outfile *o);

/*
 * True if writing to out would write to the regular file in is: the same device and
 * inode ("-" is standard input for in, standard output for out). False when out does
 * not exist yet.
 */
bool outfile_same(const char *in, const char *out);

/*
 * The exit status of a program that ends with `status`: when it is 0, standard output is
 * closed and checked, and if anything printed was not written (a full disk, /dev/full)
 * "PROG: <stdout>: write error: REASON" is printed and the status becomes 1. A failing
 * status is returned as it is (the program has said why).
 */
int outfile_stdout_close(const char *prog, int status);

#endif
