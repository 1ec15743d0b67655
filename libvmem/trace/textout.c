/*
 * Text output the programs share: CSV fields (RFC 4180) and JSON strings (RFC 8259).
 */
#include <stdlib.h>
#include <string.h>

#include "textout.h"

/*
 * s as one CSV field, as RFC 4180 says: quoted, with quotes doubled, when it holds a
 * comma, a quote, CR or LF. A new string, to free.
 */
char *text_csv_quote(const char *s)
{
	char *q = malloc(2 * strlen(s) + 3), *p = q;

	if (!q)
		return NULL;
	if (!s[strcspn(s, ",\"\r\n")])
		return strcpy(q, s);
	*p++ = '"';
	for (; *s; s++) {
		if (*s == '"')
			*p++ = '"';
		*p++ = *s;
	}
	*p++ = '"';
	*p = '\0';
	return q;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *p)
{
	unsigned c = p[0];
	size_t n;
	unsigned min;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, min = 0x10000;
	else
		return 0;
	unsigned v = c & (0x3fu >> (n - 1));

	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)   /* also stops at the terminating NUL */
			return 0;
		v = v << 6 | (p[i] & 0x3fu);
	}
	/* No overlong forms, surrogates or code points past U+10FFFF. */
	if (v < min || (v >= 0xd800 && v <= 0xdfff) || v > 0x10ffff)
		return 0;
	return n;
}

/* A JSON string: escaped, and valid UTF-8 (each invalid byte becomes U+FFFD). */
void text_json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		size_t n = utf8_len(p);

		if (n == 0) {
			fputs("\\ufffd", f);
			p++;
		} else if (*p == '"' || *p == '\\') {
			fprintf(f, "\\%c", *p++);
		} else if (*p < 0x20) {
			fprintf(f, "\\u%04x", *p++);
		} else {
			fwrite(p, 1, n, f);
			p += n;
		}
	}
	fputc('"', f);
}

