/*
 * Text output the programs share (linked from libvmem.a, not exported by libvmem.so):
 * CSV fields quoted as RFC 4180 says, JSON strings escaped and valid UTF-8.
 */
#ifndef VMEM_TEXTOUT_H
#define VMEM_TEXTOUT_H

#include <stdio.h>

/* s as one CSV field: quoted, with quotes doubled, when it holds a comma, a quote, CR or
 * LF. A new string to free, or NULL when out of memory. */
char *text_csv_quote(const char *s);

/* s as a JSON string, quotes included: escaped, each invalid UTF-8 byte as U+FFFD. */
void text_json_string(FILE *f, const char *s);

#endif
