/*
 * Page cursors. A cursor says where the last page ended and which listing
 * it belongs to; it is base64url (no padding) of
 *
 *   1 (the format) | filter hash (4) | created_at, microseconds (8) |
 *   post_id (1 to 64) | check sum (4)
 *
 * all big-endian. The sums are FNV-1a: they catch a cursor edited by hand
 * or cut short, and one of another listing (another author or deleted
 * filter). They are no secret: a forged cursor only starts a page at a
 * place of the forger's choosing, which after= allows anyway.
 */
#include <string.h>

#include "adapters/http/http_int.h"

#define CURSOR_FORMAT 1
#define CURSOR_HEAD 13 /* format, filter hash, created_at */

static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

static uint32_t filter_hash(const char *author, enum pw_deleted_filter deleted)
{
    unsigned char d = (unsigned char)deleted, has = author != NULL;
    uint32_t h = fnv(2166136261u, &has, 1);
    h = author ? fnv(h, author, strlen(author) + 1) : h;
    return fnv(h, &d, 1);
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (24 - 8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void http_cursor_encode(const char *author, enum pw_deleted_filter deleted, pw_time created,
                        const char *post_id, char out[HTTP_CURSOR_MAX + 1])
{
    unsigned char raw[CURSOR_HEAD + PW_POST_ID_MAX + 4];
    size_t idlen = strnlen(post_id, PW_POST_ID_MAX), n = 0;
    raw[n++] = CURSOR_FORMAT;
    put32(raw + n, filter_hash(author, deleted));
    n += 4;
    for (int i = 0; i < 8; i++)
        raw[n++] = (unsigned char)((uint64_t)created >> (56 - 8 * i));
    memcpy(raw + n, post_id, idlen);
    n += idlen;
    put32(raw + n, fnv(2166136261u, raw, n));
    n += 4;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (i + 1 < n ? (uint32_t)raw[i + 1] << 8 : 0) |
                     (i + 2 < n ? raw[i + 2] : 0);
        size_t chars = i + 2 < n ? 4 : i + 1 < n ? 3 : 2;
        for (size_t k = 0; k < chars; k++)
            out[o++] = b64[(v >> (18 - 6 * k)) & 63];
    }
    out[o] = '\0';
}

bool http_cursor_decode(const char *text, const char *author, enum pw_deleted_filter deleted,
                        pw_time *created, char post_id[PW_POST_ID_MAX + 1])
{
    size_t len = strnlen(text, HTTP_CURSOR_MAX + 1);
    if (len > HTTP_CURSOR_MAX || len % 4 == 1)
        return false;
    unsigned char raw[HTTP_CURSOR_MAX];
    size_t n = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < len; i++) {
        const char *at = text[i] ? strchr(b64, text[i]) : NULL;
        if (!at)
            return false;
        acc = acc << 6 | (uint32_t)(at - b64);
        if (i % 4 == 3 || i == len - 1) {
            size_t chars = i % 4 + 1, bytes = chars - 1;
            acc <<= 6 * (4 - chars);
            for (size_t k = 0; k < bytes; k++)
                raw[n++] = (unsigned char)(acc >> (16 - 8 * k));
            /* The bits past the last byte must be zero: one cursor, one spelling. */
            if (chars < 4 && (acc & ((1u << (8 * (3 - bytes))) - 1)))
                return false;
            acc = 0;
        }
    }
    if (n < CURSOR_HEAD + 1 + 4 || n > CURSOR_HEAD + PW_POST_ID_MAX + 4 ||
        raw[0] != CURSOR_FORMAT || get32(raw + n - 4) != fnv(2166136261u, raw, n - 4) ||
        get32(raw + 1) != filter_hash(author, deleted))
        return false;
    uint64_t t = 0;
    for (int i = 0; i < 8; i++)
        t = t << 8 | raw[5 + i];
    size_t idlen = n - 4 - CURSOR_HEAD;
    memcpy(post_id, raw + CURSOR_HEAD, idlen);
    post_id[idlen] = '\0';
    *created = (pw_time)t;
    return pw_post_check_id(post_id, NULL) == PW_OK && pw_time_in_range(*created);
}
