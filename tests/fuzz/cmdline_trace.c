/* vmem-trace's command line (see cmdline.h): simulators/vmem-trace.c with its main renamed. */
#include "cmdline.h"

int vmem_trace_main(int argc, char **argv);
#define main vmem_trace_main
#include "../../simulators/vmem-trace.c"
#undef main

int cmdline_trace(int argc, char **argv)
{
	const struct command *cmd = NULL;
	struct cli c;
	int status = parse_command(argc, argv, &cmd);

	if (status != PARSED)
		return status;
	/* What cmd->run parses first. */
	return parse_args(argc - 2, argv + 2, cmd->name, cmd->args, &c) ? 2 : CMDLINE_GO;
}
