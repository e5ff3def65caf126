/*
 * The text checks behind the contract's field rules: UTF-8 validity, length
 * in code points, and "not all white space". They take lengths, not NUL
 * terminators, so that a string with an embedded NUL is judged whole.
 */
#ifndef PW_DOMAIN_TEXT_H
#define PW_DOMAIN_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Returns the number of code points in the len bytes at s, or -1 if they are
 * not well-formed UTF-8 (overlong forms, surrogates, values past U+10FFFF,
 * truncated sequences) or contain a NUL.
 */
long pw_text_codepoints(const char *s, size_t len);

/*
 * The length in bytes (1 to 4) of the well-formed code point that the len
 * (>= 1) bytes at s begin with, or 0 if they begin with none (a NUL counts
 * as one byte: the caller decides about it). For a writer that checks as it
 * copies.
 */
size_t pw_text_char_len(const char *s, size_t len);

/*
 * Makes the NUL-terminated s one line of well-formed UTF-8, in place:
 * control characters, and every byte that does not begin a well-formed
 * sequence (a character cut in two by truncation, say), become '?'. For
 * text shown to people or stored in a text column.
 */
void pw_text_scrub(char *s);

/*
 * Writes the NUL-terminated in to out (cap bytes, NUL included, truncated to
 * fit) for a log line, so that no message can forge a line or reach a
 * terminal's escape sequences: control characters (C0, DEL, C1), U+2028 and
 * U+2029, and bytes that are not UTF-8 become \xNN or \uNNNN. Returns out.
 */
char *pw_text_escape(const char *in, char *out, size_t cap);

/*
 * Copies the NUL-terminated src into dst (cap >= 1 bytes, NUL included),
 * cut to fit as snprintf's "%s" would, at a tenth of its cost; returns the
 * length copied.
 */
size_t pw_text_copy(char *dst, size_t cap, const char *src);

/* True if every code point of s is white space (Unicode White_Space); true for "". */
bool pw_text_is_blank(const char *s, size_t len);

#endif
