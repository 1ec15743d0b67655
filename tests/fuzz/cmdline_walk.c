/* vmem-walk's command line (see cmdline.h): simulators/vmem-walk.c with its main renamed. */
#include "cmdline.h"

int vmem_walk_main(int argc, char **argv);
#define main vmem_walk_main
#include "../../simulators/vmem-walk.c"
#undef main

int cmdline_walk(int argc, char **argv)
{
	struct cli o;
	int status;

	optind = 0;   /* glibc: start getopt afresh */
	status = parse_args(argc, argv, &o);
	if (status != PARSED)
		return status;
	/* The addresses are read one by one as they are walked; a bad one ends the run. */
	for (int i = optind; i < argc; i++) {
		uint64_t va;

		if (parse_number(argv[i], "address", &va))
			return 2;
	}
	return CMDLINE_GO;
}
