/* vmem-gen's command line (see cmdline.h): simulators/vmem-gen.c with its main renamed. */
#include "cmdline.h"

int vmem_gen_main(int argc, char **argv);
#define main vmem_gen_main
#include "../../simulators/vmem-gen.c"
#undef main

int cmdline_gen(int argc, char **argv)
{
	struct vmem_tracegen_config cfg;
	struct cli c;
	int status = parse_args(argc, argv, &c, &cfg);

	return status == PARSED ? CMDLINE_GO : status;
}
