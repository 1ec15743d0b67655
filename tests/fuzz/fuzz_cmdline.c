/*
 * The command-line parsers of the four programs (vmemsim, vmem-walk, vmem-gen,
 * vmem-trace), each through the program's own parsing code (see cmdline.h).
 *
 * The input is argv: words separated by NUL or newline bytes, at most MAX_WORDS words of
 * at most MAX_WORD bytes (the rest is ignored). The first word names the program and is
 * its argv[0]; an input whose first word is no program is skipped. A word "%NAME" (also
 * after a '=' or an option letter: "--config=%good", "-c%bad") is the file NAME of a
 * scratch folder made at start: good (a valid configuration), bad (an unknown key), nul
 * (a NUL byte), long (a line too long), empty, and dir (a folder). For the two programs
 * that read configuration files, inputs with other paths (a '/') are skipped, so that
 * nothing outside that folder and the working folder is opened (no FIFO, no /dev/stdin).
 *
 * Checked: no crash, leak or exit; a usage error (status 2) prints a message on stderr
 * whose first line starts with "PROG: " or "usage: " and that ends with a newline, and
 * nothing on stdout; --help and --version (status 0) print on stdout and nothing on
 * stderr; a command line that is accepted prints nothing on stderr.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmdline.h"
#include "fuzz.h"

#define MAX_WORDS 48
#define MAX_WORD 512

static const struct program {
	const char *name;
	int (*parse)(int argc, char **argv);
	bool reads_files;
} programs[] = {
	{ "vmemsim", cmdline_vmemsim, true },
	{ "vmem-walk", cmdline_walk, true },
	{ "vmem-gen", cmdline_gen, false },
	{ "vmem-trace", cmdline_trace, false },
};

static const struct scratch_file {
	const char *name;
	const char *text;
	size_t len;
} scratch_files[] = {
	{ "good", "# a comment\nmode=nested\ntlb.l1d.4k=64:4:lru\n\nguest.page=2m  # 2 MiB\n", 0 },
	{ "bad", "mode=native\nno.such.key=1\n", 0 },
	{ "nul", "mode=native\n\0pcid=1\n", 20 },
	{ "long", NULL, 0 },
	{ "empty", "", 0 },
};

static char scratch[64];

static void check(int ok, const char *prog, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_cmdline: %s: %s\n", prog, what);
		abort();
	}
}

static void remove_scratch(void)
{
	char path[128];

	for (size_t i = 0; i < sizeof(scratch_files) / sizeof(scratch_files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", scratch, scratch_files[i].name);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/dir", scratch);
	rmdir(path);
	rmdir(scratch);
}

static void make_scratch(void)
{
	char path[128], longline[700];

	snprintf(scratch, sizeof(scratch), "/tmp/fuzz-cmdline.XXXXXX");
	check(mkdtemp(scratch) != NULL, "mkdtemp", "cannot make the scratch folder");
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\n';
	for (size_t i = 0; i < sizeof(scratch_files) / sizeof(scratch_files[0]); i++) {
		const struct scratch_file *f = &scratch_files[i];
		const char *text = f->text ? f->text : longline;
		size_t len = f->text ? (f->len ? f->len : strlen(f->text)) : sizeof(longline);
		FILE *out;

		snprintf(path, sizeof(path), "%s/%s", scratch, f->name);
		out = fopen(path, "w");
		check(out && fwrite(text, 1, len, out) == len && fclose(out) == 0, path,
		      "cannot write");
	}
	snprintf(path, sizeof(path), "%s/dir", scratch);
	check(mkdir(path, 0700) == 0, path, "cannot make");
	atexit(remove_scratch);
}

/*
 * word with "%NAME" of a scratch file replaced by its path, into out; false if too long.
 * *path tells whether it was.
 */
static bool expand(const char *word, char *out, size_t len, bool *path)
{
	const char *pct = strchr(word, '%');

	*path = false;
	if (pct && (pct == word || pct[-1] == '=' || (pct == word + 2 && word[0] == '-'))) {
		const char *name = pct + 1;
		bool known = strcmp(name, "dir") == 0;

		for (size_t i = 0; i < sizeof(scratch_files) / sizeof(scratch_files[0]); i++)
			known |= strcmp(name, scratch_files[i].name) == 0;
		*path = known && !memchr(word, '/', (size_t)(pct - word));
		if (known)
			return (size_t)snprintf(out, len, "%.*s%s/%s", (int)(pct - word), word,
						scratch, name) < len;
	}
	return (size_t)snprintf(out, len, "%s", word) < len;
}

/* Runs the parser with stdout and stderr captured; checks what it printed. */
static void run(const struct program *p, int argc, char **argv)
{
	FILE *saved_out = stdout, *saved_err = stderr;
	char *out = NULL, *err = NULL;
	size_t out_len = 0, err_len = 0;
	int status;

	stdout = open_memstream(&out, &out_len);
	stderr = open_memstream(&err, &err_len);
	check(stdout && stderr, p->name, "open_memstream failed");
	status = p->parse(argc, argv);
	fclose(stdout);
	fclose(stderr);
	stdout = saved_out;
	stderr = saved_err;

	if (status == 2) {
		size_t n = strlen(p->name);

		check(err_len > 0, p->name, "usage error without a message");
		check(err[err_len - 1] == '\n', p->name, "message without a final newline");
		check((strncmp(err, p->name, n) == 0 && err[n] == ':' && err[n + 1] == ' ') ||
		      strncmp(err, "usage: ", 7) == 0, p->name, "message without the program name");
		check(out_len == 0, p->name, "usage error with output on stdout");
	} else if (status == 0) {
		check(out_len > 0, p->name, "--help or --version without output");
		check(err_len == 0, p->name, "--help or --version with a message");
	} else {
		check(status == CMDLINE_GO, p->name, "an unexpected exit status");
		check(err_len == 0, p->name, "an accepted command line with a message");
	}
	free(out);
	free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char words[MAX_WORDS][MAX_WORD + 96];
	char *argv[MAX_WORDS + 1];
	const struct program *p = NULL;
	int argc = 0;
	size_t i = 0;
	bool path, other_path = false;

	if (!scratch[0])
		make_scratch();
	while (i <= size && argc < MAX_WORDS) {
		char word[MAX_WORD + 1];
		size_t n = 0;

		if (i == size && argc > 0 && (data[size - 1] == '\n' || data[size - 1] == '\0'))
			break;   /* a final separator ends the last word, it starts none */
		while (i < size && data[i] != '\0' && data[i] != '\n') {
			if (n < MAX_WORD)
				word[n++] = (char)data[i];
			i++;
		}
		i++;
		word[n] = '\0';
		if (!expand(word, words[argc], sizeof(words[argc]), &path))
			return 0;
		other_path |= !path && strchr(word, '/');
		argv[argc] = words[argc];
		argc++;
	}
	argv[argc] = NULL;
	for (size_t k = 0; k < sizeof(programs) / sizeof(programs[0]); k++)
		if (strcmp(words[0], programs[k].name) == 0)
			p = &programs[k];
	if (!p || (p->reads_files && other_path))
		return 0;
	run(p, argc, argv);
	return 0;
}
