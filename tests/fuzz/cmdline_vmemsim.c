/* vmemsim's command line (see cmdline.h): simulators/vmemsim.c with its main renamed. */
#include "cmdline.h"

int vmemsim_main(int argc, char **argv);
#define main vmemsim_main
#include "../../simulators/vmemsim.c"
#undef main

int cmdline_vmemsim(int argc, char **argv)
{
	struct options o;
	int status;
	char *quoted;

	optind = 0;   /* glibc: start getopt afresh */
	status = parse_args(argc, argv, &o);
	if (status != PARSED)
		return status;
	/* The label of each trace, as the CSV, JSON and histogram rows carry it. */
	for (int t = optind; t < argc; t++) {
		const char *label = o.label ? o.label : basename_of(argv[t]);

		quoted = text_csv_quote(label);
		if (!quoted)
			return 1;
		fputs(quoted, stdout);
		free(quoted);
		text_json_string(stdout, label);
		fputc('\n', stdout);
	}
	return CMDLINE_GO;
}
