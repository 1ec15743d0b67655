/*
 * The programs' command-line parsers, for fuzz_cmdline.c: each cmdline_*.c compiles one
 * program of simulators/ with its main renamed and calls the program's own parser, which
 * returns instead of exiting. Each function takes the program's argv (argv[0] its name),
 * parses it as the program would and checks what the program would do next with it that
 * needs no file: for vmem-walk the addresses, for vmemsim the CSV and JSON forms of the
 * label.
 *
 * Returns CMDLINE_GO when the program would go on to its work, else the exit status it
 * would have: 2 after a usage message on stderr, 0 after --help or --version on stdout.
 */
#ifndef VMEM_TESTS_FUZZ_CMDLINE_H
#define VMEM_TESTS_FUZZ_CMDLINE_H

#define CMDLINE_GO (-1)

int cmdline_vmemsim(int argc, char **argv);
int cmdline_walk(int argc, char **argv);
int cmdline_gen(int argc, char **argv);
int cmdline_trace(int argc, char **argv);

#endif
