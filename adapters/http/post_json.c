/*
 * A post as the read API answers it (an event's data), written straight
 * into a growing buffer in one pass over each text: a page of 50 posts is
 * most of a listener thread's work, and stdio's per-call costs, a separate
 * UTF-8 check and jansson's trees each cost more than the copying
 * (docs/benchmark.md). Text that is not UTF-8 (a database in another
 * encoding) goes through jansson's scrubbed path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/http/http_int.h"
#include "domain/text.h"
#include "domain/time.h"

void http_out_put(struct http_out *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->failed = true;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

void http_out_str(struct http_out *o, const char *s)
{
    http_out_put(o, s, strlen(s));
}

char *http_out_take(struct http_out *o)
{
    if (o->failed) {
        free(o->p);
        o->p = NULL;
    }
    char *p = o->p;
    o->p = NULL;
    return p;
}

/* s as a JSON string: quotes, backslashes and control characters escaped. */
static void out_quoted(struct http_out *o, const char *s)
{
    size_t n = strlen(s), start = o->len, run = 0, i = 0;
    http_out_put(o, "\"", 1);
    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x80 && ch != '"' && ch != '\\') {
            i++;
            continue;
        }
        if (ch >= 0x80) {
            size_t k = pw_text_char_len(s + i, n - i);
            if (k == 0) { /* not UTF-8: start again, scrubbed */
                o->len = start;
                json_t *v = http_text_json(s);
                char *text = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
                json_decref(v);
                if (!text) {
                    o->failed = true;
                    return;
                }
                http_out_str(o, text);
                free(text);
                return;
            }
            i += k;
            continue;
        }
        http_out_put(o, s + run, i - run);
        char esc[8];
        if (ch == '"' || ch == '\\')
            snprintf(esc, sizeof esc, "\\%c", ch);
        else
            snprintf(esc, sizeof esc, "\\u%04x", ch);
        http_out_str(o, esc);
        run = ++i;
    }
    http_out_put(o, s + run, n - run);
    http_out_put(o, "\"", 1);
}

static void out_time(struct http_out *o, pw_time t)
{
    char buf[PW_TIME_STRLEN + 2];
    buf[0] = '"';
    pw_time_format(t, buf + 1);
    size_t n = strlen(buf);
    buf[n] = '"';
    http_out_put(o, buf, n + 1);
}

void http_post_json(struct http_out *o, const struct pw_post *p)
{
    http_out_str(o, "{\"post_id\":\"");
    http_out_str(o, p->post_id); /* checked: A-Z a-z 0-9 . _ - */
    http_out_str(o, "\",\"author_name\":");
    out_quoted(o, p->author_name);
    http_out_str(o, ",\"title\":");
    out_quoted(o, p->title);
    http_out_str(o, ",\"body\":");
    out_quoted(o, p->body);
    char version[32];
    snprintf(version, sizeof version, ",\"version\":%lld,\"created_at\":", (long long)p->version);
    http_out_str(o, version);
    out_time(o, p->created_at);
    http_out_str(o, ",\"updated_at\":");
    out_time(o, p->updated_at);
    http_out_str(o, ",\"deleted_at\":");
    if (pw_post_is_deleted(p))
        out_time(o, p->deleted_at);
    else
        http_out_str(o, "null");
    http_out_put(o, "}", 1);
}
