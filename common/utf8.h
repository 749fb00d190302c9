/*
 * utf8.h — UTF-8 as byol accepts it: well-formed sequences only (no overlong
 * forms, surrogates or code points past U+10FFFF), as RFC 3629 defines them.
 */
#ifndef BYOL_UTF8_H
#define BYOL_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length (1-4) of the valid sequence at s with n > 0 bytes left, or 0; *cp (may be
   NULL) receives its code point. */
size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp);

/* Offset of the first invalid byte of s[0..n), or n if all of it is valid. */
size_t utf8_check(const char *s, size_t n);

/* 1 if the NUL-terminated s is valid UTF-8. */
int utf8_valid(const char *s);

/* 1 if s is valid UTF-8 without control characters (C0, DEL, C1). */
int utf8_printable(const char *s);

/* Replaces each byte that starts no valid sequence by '?', in place. */
void utf8_sanitize(char *s);

#endif
