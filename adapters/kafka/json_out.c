/*
 * The JSON writer (json_out.h). Escaping follows jansson's dump.c: the two
 * quoting characters and the control characters below 0x20 are escaped,
 * with the short forms where JSON has them and \u00XX (upper case)
 * otherwise; everything else, DEL and U+2028 included, goes out as it is.
 */
#include "adapters/kafka/json_out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/text.h"

static bool json_room(struct pw_json_out *w, size_t more)
{
    if (w->failed)
        return false;
    if (w->len + more + 1 <= w->cap)
        return true;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + more + 1)
        cap *= 2;
    char *p = realloc(w->buf, cap);
    if (!p) {
        w->failed = true;
        return false;
    }
    w->buf = p;
    w->cap = cap;
    return true;
}

static void json_raw(struct pw_json_out *w, const char *s, size_t n)
{
    if (!json_room(w, n))
        return;
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

/* The characters that cannot go into a JSON string as they are. */
static bool json_plain(unsigned char c)
{
    return c >= 0x20 && c != '"' && c != '\\';
}

static void json_quoted(struct pw_json_out *w, const char *s)
{
    size_t n = strlen(s);
    if (pw_text_codepoints(s, n) < 0) {
        w->failed = true;
        return;
    }
    json_raw(w, "\"", 1);
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && json_plain((unsigned char)s[run]))
            run++;
        json_raw(w, s + i, run - i);
        if (run == n)
            break;
        unsigned char c = (unsigned char)s[run];
        char esc[8];
        const char *e = esc;
        switch (c) {
        case '"': e = "\\\""; break;
        case '\\': e = "\\\\"; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        default: snprintf(esc, sizeof esc, "\\u%04X", c); break;
        }
        json_raw(w, e, strlen(e));
        i = run + 1;
    }
    json_raw(w, "\"", 1);
}

/* Keys are the contract's own names, plain ASCII: written as they are. */
static void json_key(struct pw_json_out *w, const char *key)
{
    size_t n = strlen(key);
    if (!json_room(w, n + 4))
        return;
    char *p = w->buf + w->len;
    if (w->comma)
        *p++ = ',';
    *p++ = '"';
    memcpy(p, key, n);
    p += n;
    *p++ = '"';
    *p++ = ':';
    w->len = (size_t)(p - w->buf);
    w->comma = true;
}

void pw_json_begin(struct pw_json_out *w, size_t hint)
{
    *w = (struct pw_json_out){0};
    json_room(w, hint);
    json_raw(w, "{", 1);
}

void pw_json_object(struct pw_json_out *w, const char *key)
{
    json_key(w, key);
    json_raw(w, "{", 1);
    w->comma = false;
}

void pw_json_string(struct pw_json_out *w, const char *key, const char *val)
{
    json_key(w, key);
    if (val)
        json_quoted(w, val);
    else
        json_raw(w, "null", 4);
}

void pw_json_integer(struct pw_json_out *w, const char *key, long long v)
{
    char num[24];
    json_key(w, key);
    json_raw(w, num, (size_t)snprintf(num, sizeof num, "%lld", v));
}

void pw_json_end(struct pw_json_out *w)
{
    json_raw(w, "}", 1);
    w->comma = true;
}

char *pw_json_finish(struct pw_json_out *w, size_t *len)
{
    if (w->failed || !json_room(w, 0)) {
        free(w->buf);
        *w = (struct pw_json_out){.failed = true};
        return NULL;
    }
    w->buf[w->len] = '\0';
    *len = w->len;
    char *doc = w->buf;
    *w = (struct pw_json_out){0};
    return doc;
}
