/*
 * UTF-8 decoding per RFC 3629 (Table 3-7 of the Unicode standard), written
 * out because the C library's mbrtowc() depends on the process locale.
 */
#include "domain/text.h"

#include <stdint.h>
#include <string.h>

/* Decodes one code point at s[*i]; returns -1 if the sequence is ill-formed. */
static int32_t utf8_next(const unsigned char *s, size_t len, size_t *i)
{
    unsigned char c = s[*i];
    if (c < 0x80) {
        (*i)++;
        return c;
    }
    int n;
    int32_t cp;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 1;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 2;
        cp = c & 0x0f;
        if (c == 0xe0)
            lo = 0xa0; /* no overlong forms */
        if (c == 0xed)
            hi = 0x9f; /* no surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 3;
        cp = c & 0x07;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f; /* nothing past U+10FFFF */
    } else {
        return -1;
    }
    if (len - *i <= (size_t)n)
        return -1;
    for (int k = 1; k <= n; k++) {
        unsigned char cc = s[*i + (size_t)k];
        if (cc < lo || cc > hi)
            return -1;
        lo = 0x80;
        hi = 0xbf;
        cp = (cp << 6) | (cc & 0x3f);
    }
    *i += (size_t)n + 1;
    return cp;
}

long pw_text_codepoints(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    long count = 0;
    size_t i = 0;
    while (i < len) {
        /* ASCII runs are the common case: no decode needed. */
        if (u[i] < 0x80) {
            if (u[i] == 0)
                return -1;
            i++;
        } else if (utf8_next(u, len, &i) < 0) {
            return -1;
        }
        count++;
    }
    return count;
}

size_t pw_text_char_len(const char *s, size_t len)
{
    size_t i = 0;
    return utf8_next((const unsigned char *)s, len, &i) < 0 ? 0 : i;
}

static bool is_space(int32_t cp)
{
    switch (cp) {
    case 0x09: case 0x0a: case 0x0b: case 0x0c: case 0x0d: case 0x20:
    case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202f: case 0x205f: case 0x3000:
        return true;
    default:
        return cp >= 0x2000 && cp <= 0x200a;
    }
}

bool pw_text_is_blank(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        int32_t cp = utf8_next(u, len, &i);
        if (cp < 0 || !is_space(cp))
            return false;
    }
    return true;
}

void pw_text_scrub(char *s)
{
    unsigned char *u = (unsigned char *)s;
    size_t len = 0;
    while (u[len])
        len++;
    for (size_t i = 0; i < len;) {
        size_t at = i;
        int32_t cp = utf8_next(u, len, &i);
        if (cp < 0) {
            u[at] = '?';
            i = at + 1;
        } else if (cp < 0x20 || cp == 0x7f) {
            u[at] = '?';
        }
    }
}

/* Appends the n bytes at s to out, if they fit with the NUL; false if not. */
static bool put_bytes(char *out, size_t cap, size_t *len, const char *s, size_t n)
{
    if (*len + n >= cap)
        return false;
    for (size_t k = 0; k < n; k++)
        out[(*len)++] = s[k];
    return true;
}

char *pw_text_escape(const char *in, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)in;
    size_t n = 0, len = 0;
    while (u[n])
        n++;
    for (size_t i = 0; i < n;) {
        size_t at = i;
        int32_t cp = utf8_next(u, n, &i);
        char esc[8];
        bool ok;
        if (cp < 0) {
            i = at + 1;
            esc[0] = '\\', esc[1] = 'x', esc[2] = hex[u[at] >> 4], esc[3] = hex[u[at] & 15];
            ok = put_bytes(out, cap, &len, esc, 4);
        } else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
            esc[0] = '\\', esc[1] = 'x', esc[2] = hex[cp >> 4], esc[3] = hex[cp & 15];
            ok = put_bytes(out, cap, &len, esc, 4);
        } else if (cp == 0x2028 || cp == 0x2029) {
            ok = put_bytes(out, cap, &len, cp == 0x2028 ? "\\u2028" : "\\u2029", 6);
        } else {
            ok = put_bytes(out, cap, &len, in + at, i - at);
        }
        if (!ok)
            break;
    }
    if (cap)
        out[len] = '\0';
    return out;
}

size_t pw_text_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strnlen(src, cap - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
    return n;
}
