/*
 * Copies and packings of the edge's messages. A dead letter's copy is one
 * allocation, so that an outbox row that holds up to a megabyte of someone
 * else's bytes costs one malloc and one free.
 */
#include "ports/message.h"

#include <stdlib.h>
#include <string.h>

#define PW_NULL_LEN 0xffffffffu

static size_t str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* Appends n bytes of src at *at; returns where they went (NULL for NULL). */
static const void *put(char **at, const void *src, size_t n)
{
    if (!src)
        return NULL;
    char *dst = *at;
    if (n)
        memcpy(dst, src, n);
    *at += n;
    return dst;
}

enum pw_err pw_origin_copy(struct pw_origin *dst, const struct pw_origin *src, char **mem)
{
    const struct pw_origin *o = src;
    size_t size = o->nheaders * sizeof(struct pw_header) + str_size(o->group) +
                  str_size(o->topic) + o->key_len + o->value_len + 1;
    for (size_t i = 0; i < o->nheaders; i++)
        size += str_size(o->headers[i].name) + (o->headers[i].value ? o->headers[i].len : 0);
    char *m = malloc(size);
    if (!m) {
        memset(dst, 0, sizeof *dst);
        *mem = NULL;
        return PW_E_NOMEM;
    }
    struct pw_origin copy = *o;
    /* The header array first: it is the one part that needs alignment. */
    struct pw_header *hs = (struct pw_header *)(void *)m;
    char *at = m + o->nheaders * sizeof *hs;
    for (size_t i = 0; i < o->nheaders; i++) {
        hs[i].name = put(&at, o->headers[i].name, str_size(o->headers[i].name));
        hs[i].value = put(&at, o->headers[i].value, o->headers[i].len);
        hs[i].len = o->headers[i].value ? o->headers[i].len : 0;
    }
    copy.headers = o->nheaders ? hs : NULL;
    copy.group = put(&at, o->group, str_size(o->group));
    copy.topic = put(&at, o->topic, str_size(o->topic));
    copy.key = put(&at, o->key, o->key_len);
    copy.value = put(&at, o->value, o->value_len);
    *dst = copy;
    *mem = m;
    return PW_OK;
}

enum pw_err pw_dead_letter_copy(struct pw_dead_letter *dst, const struct pw_dead_letter *src)
{
    struct pw_dead_letter copy = *src;
    if (pw_origin_copy(&copy.origin, &src->origin, &copy.mem)) {
        memset(dst, 0, sizeof *dst);
        return PW_E_NOMEM;
    }
    *dst = copy;
    return PW_OK;
}

void pw_dead_letter_release(struct pw_dead_letter *dl)
{
    free(dl->mem);
    memset(dl, 0, sizeof *dl);
}

static size_t len_or_0(const char *s)
{
    return s ? strlen(s) : 0;
}

size_t pw_out_bytes(const struct pw_out *out)
{
    if (out->kind == PW_OUT_EVENT)
        return len_or_0(out->ev.post.author_name) + len_or_0(out->ev.post.title) +
               len_or_0(out->ev.post.body);
    const struct pw_origin *o = &out->dl.origin;
    return o->key_len + o->value_len + pw_headers_packed_size(o->headers, o->nheaders);
}

enum pw_err pw_out_copy(struct pw_out *dst, const struct pw_out *src)
{
    memset(dst, 0, sizeof *dst);
    dst->kind = src->kind;
    memcpy(dst->topic, src->topic, sizeof dst->topic);
    enum pw_err rc = src->kind == PW_OUT_EVENT ? pw_event_copy(&dst->ev, &src->ev)
                                               : pw_dead_letter_copy(&dst->dl, &src->dl);
    if (rc)
        memset(dst, 0, sizeof *dst);
    return rc;
}

void pw_out_release(struct pw_out *out)
{
    pw_event_release(&out->ev);
    pw_dead_letter_release(&out->dl);
    memset(out, 0, sizeof *out);
}

size_t pw_headers_packed_size(const struct pw_header *hs, size_t n)
{
    size_t size = 0;
    for (size_t i = 0; i < n; i++)
        size += strlen(hs[i].name) + 1 + 4 + (hs[i].value ? hs[i].len : 0);
    return size;
}

void pw_headers_pack(const struct pw_header *hs, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        size_t nl = strlen(hs[i].name) + 1;
        memcpy(out, hs[i].name, nl);
        out += nl;
        uint32_t vl = hs[i].value ? (uint32_t)hs[i].len : PW_NULL_LEN;
        for (int b = 3; b >= 0; b--)
            *out++ = (unsigned char)(vl >> (8 * b));
        if (hs[i].value && hs[i].len) {
            memcpy(out, hs[i].value, hs[i].len);
            out += hs[i].len;
        }
    }
}

enum pw_err pw_headers_unpack(const unsigned char *p, size_t len, struct pw_header *hs,
                              size_t max, size_t *n)
{
    const unsigned char *end = p + len;
    *n = 0;
    while (p < end) {
        const unsigned char *nul = memchr(p, '\0', (size_t)(end - p));
        if (!nul || end - (nul + 1) < 4)
            return PW_E_FATAL;
        const unsigned char *v = nul + 5;
        uint32_t vl = (uint32_t)nul[1] << 24 | (uint32_t)nul[2] << 16 | (uint32_t)nul[3] << 8 |
                      nul[4];
        size_t take = vl == PW_NULL_LEN ? 0 : vl;
        if ((size_t)(end - v) < take)
            return PW_E_FATAL;
        if (*n < max)
            hs[*n] = (struct pw_header){(const char *)p, vl == PW_NULL_LEN ? NULL : v, take};
        (*n)++;
        p = v + take;
    }
    return PW_OK;
}
