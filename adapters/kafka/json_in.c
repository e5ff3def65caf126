/* The fast reader of json_in.h: one pass, one allocation for the strings. */
#include "adapters/kafka/json_in.h"

#include <stdlib.h>
#include <string.h>

#include "domain/text.h"

struct json_rd {
    const unsigned char *p, *end;
    char *out; /* where the next unescaped string goes */
    struct pw_json_flat *f;
};

static void json_ws(struct json_rd *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

/* A key: printable ASCII without escapes, left where it is. */
static bool json_key(struct json_rd *r, const char **key, size_t *klen)
{
    if (r->p >= r->end || *r->p != '"')
        return false;
    const unsigned char *start = ++r->p;
    while (r->p < r->end && *r->p != '"') {
        if (*r->p < 0x20 || *r->p >= 0x80 || *r->p == '\\')
            return false;
        r->p++;
    }
    if (r->p >= r->end)
        return false;
    *key = (const char *)start;
    *klen = (size_t)(r->p - start);
    r->p++;
    return true;
}

/* A string value, unescaped into r->out; its UTF-8 checked as jansson does. */
static bool json_string(struct json_rd *r, struct pw_json_member *m)
{
    char *start = r->out;
    bool high = false;
    r->p++; /* the opening quote */
    for (;;) {
        if (r->p >= r->end)
            return false;
        unsigned char c = *r->p;
        if (c == '"')
            break;
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (r->end - r->p < 2)
                return false;
            switch (r->p[1]) {
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case '/': c = '/'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            default: return false; /* \u, or not JSON: jansson decides */
            }
            r->p++;
        }
        high |= c >= 0x80;
        *r->out++ = (char)c;
        r->p++;
    }
    r->p++;
    m->kind = PW_JSON_STRING;
    m->str = start;
    m->len = (size_t)(r->out - start);
    *r->out++ = '\0';
    /* An escape gives ASCII, never a continuation byte: checking the result is the same. */
    return !high || pw_text_codepoints(start, m->len) >= 0;
}

/* An integer jansson reads as one: -?(0|[1-9][0-9]*), at most 18 digits, nothing after. */
static bool json_integer(struct json_rd *r, struct pw_json_member *m)
{
    bool neg = *r->p == '-';
    if (neg)
        r->p++;
    const unsigned char *start = r->p;
    long long v = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        if (r->p - start < 18)
            v = v * 10 + (*r->p - '0');
        r->p++;
    }
    size_t n = (size_t)(r->p - start);
    if (n == 0 || n > 18 || (n > 1 && *start == '0'))
        return false;
    if (r->p < r->end && (*r->p == '.' || *r->p == 'e' || *r->p == 'E'))
        return false;
    m->kind = PW_JSON_INTEGER;
    m->num = neg ? -v : v;
    return true;
}

static bool json_object(struct json_rd *r, int parent);

static bool json_value(struct json_rd *r, struct pw_json_member *m, int index, int parent)
{
    if (r->p >= r->end)
        return false;
    unsigned char c = *r->p;
    if (c == '"')
        return json_string(r, m);
    if (c == '-' || (c >= '0' && c <= '9'))
        return json_integer(r, m);
    if (c == 'n' && r->end - r->p >= 4 && memcmp(r->p, "null", 4) == 0) {
        r->p += 4;
        m->kind = PW_JSON_NULL;
        return true;
    }
    if (c == '{' && parent < 0) {
        m->kind = PW_JSON_OBJECT;
        return json_object(r, index);
    }
    return false;
}

/* {members}; r->p at the brace. Duplicate keys say no, as JSON_REJECT_DUPLICATES refuses them. */
static bool json_object(struct json_rd *r, int parent)
{
    struct pw_json_flat *f = r->f;
    r->p++;
    json_ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return true;
    }
    for (;;) {
        if (f->n == PW_JSON_FLAT_MAX)
            return false;
        int index = (int)f->n++;
        struct pw_json_member *m = &f->m[index];
        *m = (struct pw_json_member){.parent = parent};
        if (!json_key(r, &m->key, &m->klen))
            return false;
        for (int k = 0; k < index; k++)
            if (f->m[k].parent == parent && f->m[k].klen == m->klen &&
                memcmp(f->m[k].key, m->key, m->klen) == 0)
                return false;
        json_ws(r);
        if (r->p >= r->end || *r->p != ':')
            return false;
        r->p++;
        json_ws(r);
        if (!json_value(r, m, index, parent))
            return false;
        json_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            json_ws(r);
            continue;
        }
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            return true;
        }
        return false;
    }
}

bool pw_json_flat_read(const char *buf, size_t len, struct pw_json_flat *f)
{
    f->n = 0;
    /* Unescaping only shortens; each string adds a NUL. */
    if (!(f->scratch = malloc(len + PW_JSON_FLAT_MAX + 1)))
        return false;
    struct json_rd r = {(const unsigned char *)buf, (const unsigned char *)buf + len, f->scratch,
                        f};
    json_ws(&r);
    bool ok = r.p < r.end && *r.p == '{' && json_object(&r, -1);
    json_ws(&r);
    if (!ok || r.p != r.end) {
        pw_json_flat_release(f);
        return false;
    }
    return true;
}

const struct pw_json_member *pw_json_flat_get(const struct pw_json_flat *f, int parent,
                                              const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < f->n; i++)
        if (f->m[i].parent == parent && f->m[i].klen == klen &&
            memcmp(f->m[i].key, key, klen) == 0)
            return &f->m[i];
    return NULL;
}

void pw_json_flat_release(struct pw_json_flat *f)
{
    free(f->scratch);
    f->scratch = NULL;
    f->n = 0;
}
