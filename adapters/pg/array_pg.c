/*
 * Array parameters: a text literal, or PostgreSQL's binary array format
 * (conn.h, struct pg_array), and bytes as hex text.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/pg/conn.h"

static void pg_array_put(struct pg_array *a, const char *s, size_t n)
{
    if (a->failed)
        return;
    if (a->len + n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap : 256;
        while (cap < a->len + n + 2)
            cap *= 2;
        char *p = realloc(a->p, cap);
        if (!p) {
            a->failed = true;
            return;
        }
        a->p = p;
        a->cap = cap;
    }
    memcpy(a->p + a->len, s, n);
    a->len += n;
}

static void pg_array_sep(struct pg_array *a)
{
    pg_array_put(a, a->n++ ? "," : "{", 1);
}

#define PG_ARRAY_HEADER 20 /* ndim, flags, element type, the dimension and its lower bound */

void pg_array_binary(struct pg_array *a, unsigned oid)
{
    assert(a->n == 0 && a->len == 0);
    a->oid = oid;
}

static void pg_array_put_be(struct pg_array *a, uint64_t v, int bytes)
{
    char b[8];
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        b[i] = (char)(v & 0xff);
    pg_array_put(a, b, (size_t)bytes);
}

/* A binary element's length word, the header before the first: -1 for NULL. */
static void pg_array_element(struct pg_array *a, int64_t len)
{
    if (a->n++ == 0)
        pg_array_put(a, (char[PG_ARRAY_HEADER]){0}, PG_ARRAY_HEADER);
    if (len > INT32_MAX)
        a->failed = true; /* the format's limit, far beyond a statement's */
    a->nulls |= len < 0;
    pg_array_put_be(a, (uint64_t)(len < 0 ? -1 : len), 4);
}

void pg_array_add(struct pg_array *a, const char *s)
{
    if (a->oid) {
        assert(a->oid == PG_OID_TEXT);
        size_t n = s ? strlen(s) : 0;
        pg_array_element(a, s ? (int64_t)n : -1);
        if (s)
            pg_array_put(a, s, n);
        return;
    }
    pg_array_sep(a);
    if (!s) {
        pg_array_put(a, "NULL", 4);
        return;
    }
    /* Quoted, with backslash and double quote escaped: safe for any text. */
    pg_array_put(a, "\"", 1);
    for (const char *p = s; *p;) {
        size_t run = strcspn(p, "\"\\");
        pg_array_put(a, p, run);
        p += run;
        if (*p) {
            char esc[2] = {'\\', *p++};
            pg_array_put(a, esc, 2);
        }
    }
    pg_array_put(a, "\"", 1);
}

void pg_array_add_int(struct pg_array *a, long long v)
{
    char buf[24], *p = buf + sizeof buf; /* written backwards, without printf's machinery */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    assert(!a->oid); /* integers travel as text: their range is the server's to check */
    pg_array_sep(a);
    pg_array_put(a, p, (size_t)(buf + sizeof buf - p));
}

void pg_array_add_time(struct pg_array *a, pw_time t)
{
    if (a->oid) {
        assert(a->oid == PG_OID_TIMESTAMPTZ);
        pg_array_element(a, t == PW_TIME_NONE ? -1 : 8);
        if (t != PW_TIME_NONE)
            pg_array_put_be(a, (uint64_t)(t - PG_EPOCH_US), 8);
        return;
    }
    char buf[PW_TIME_STRLEN];
    pg_array_add(a, t == PW_TIME_NONE ? NULL : pw_time_format(t, buf));
}

void pg_array_add_hex(struct pg_array *a, const void *bytes, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    if (a->oid) {
        assert(a->oid == PG_OID_TEXT);
        pg_array_element(a, bytes ? 2 * (int64_t)len : -1);
    } else {
        pg_array_sep(a);
        if (!bytes)
            pg_array_put(a, "NULL", 4);
    }
    if (!bytes)
        return;
    const unsigned char *b = bytes;
    char buf[512];
    if (!a->oid)
        pg_array_put(a, "\"", 1);
    for (size_t i = 0; i < len;) {
        size_t k = 0;
        for (; i < len && k + 2 <= sizeof buf; i++) {
            buf[k++] = digits[b[i] >> 4];
            buf[k++] = digits[b[i] & 15];
        }
        pg_array_put(a, buf, k);
    }
    if (!a->oid)
        pg_array_put(a, "\"", 1);
}

/* The binary array's header, in the room its first element left; an empty one is all header. */
static const char *pg_array_done_binary(struct pg_array *a)
{
    if (a->n == 0)
        pg_array_put(a, (char[12]){0}, 12);
    if (a->len > INT32_MAX)
        a->failed = true; /* libpq takes a parameter's length as an int */
    if (a->failed)
        return NULL;
    size_t len = a->len;
    a->len = 0;
    pg_array_put_be(a, a->n > 0, 4); /* dimensions */
    pg_array_put_be(a, a->nulls, 4);
    pg_array_put_be(a, a->oid, 4);
    if (a->n > 0) {
        pg_array_put_be(a, a->n, 4);
        pg_array_put_be(a, 1, 4); /* the lower bound */
    }
    a->len = len;
    return a->p;
}

static int pg_array_len(const struct pg_array *a)
{
    return (int)a->len;
}

static int pg_array_format(const struct pg_array *a)
{
    return a->oid != 0;
}

bool pg_arrays_params(struct pg_array *a, int n, const char **vals, int *lens, int *fmts)
{
    for (int i = 0; i < n; i++) {
        if (!(vals[i] = pg_array_done(&a[i])))
            return false;
        lens[i] = pg_array_len(&a[i]);
        fmts[i] = pg_array_format(&a[i]);
    }
    return true;
}

const char *pg_array_done(struct pg_array *a)
{
    if (a->oid)
        return pg_array_done_binary(a);
    if (a->n == 0)
        pg_array_put(a, "{", 1);
    pg_array_put(a, "}", 1); /* put always leaves room for one more byte: the NUL */
    if (a->failed)
        return NULL;
    a->p[a->len] = '\0';
    return a->p;
}

void pg_array_release(struct pg_array *a)
{
    free(a->p);
    memset(a, 0, sizeof *a);
}

void pg_arrays_release(struct pg_array *a, int n)
{
    for (int i = 0; i < n; i++)
        pg_array_release(&a[i]);
}

char *pg_hex_text(const void *bytes, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    if (!bytes)
        return NULL;
    char *t = malloc(2 * len + 3);
    if (!t)
        return NULL;
    const unsigned char *b = bytes;
    t[0] = '\\';
    t[1] = 'x';
    for (size_t i = 0; i < len; i++) {
        t[2 + 2 * i] = digits[b[i] >> 4];
        t[3 + 2 * i] = digits[b[i] & 15];
    }
    t[2 + 2 * len] = '\0';
    return t;
}
