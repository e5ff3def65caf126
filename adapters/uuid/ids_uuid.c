/*
 * Event ids are UUIDv5 (RFC 4122 name-based, SHA-1) in a namespace of
 * postworker's own. The name is length-prefixed, "len:source len:id index",
 * so that no two different (source, id, index) triples spell the same name:
 * with plain concatenation ("a/b" + "c" and "a/" + "bc") they could.
 */
#include "adapters/uuid/ids_uuid.h"

#include <string.h>
#include <uuid/uuid.h>

/* A random UUID drawn once for postworker, fixed forever: changing it changes every id. */
static const uuid_t uuid_ns_postworker = {0x3f, 0x1c, 0x5e, 0x2a, 0x8b, 0x47, 0x5d, 0x1e,
                                          0x9a, 0x60, 0x2c, 0x71, 0x4e, 0x0b, 0x93, 0xd5};

/* Appends the decimal v at name[n] if it fits; returns the new length. */
static size_t uuid_put_num(char *name, size_t n, size_t cap, size_t v)
{
    char buf[24], *p = buf + sizeof buf; /* printf was a fifth of this function */
    do
        *--p = (char)('0' + v % 10);
    while (v /= 10);
    size_t len = (size_t)(buf + sizeof buf - p);
    if (n + len < cap) {
        memcpy(name + n, p, len);
        n += len;
    }
    return n;
}

/* Appends "len:s " at name[n], cut to fit cap (unreachable within the codec's limits). */
static size_t uuid_put_len(char *name, size_t n, size_t cap, const char *s)
{
    size_t len = strlen(s);
    n = uuid_put_num(name, n, cap, len);
    if (n + 2 > cap)
        return n;
    if (len > cap - n - 2)
        len = cap - n - 2;
    name[n++] = ':';
    memcpy(name + n, s, len);
    n += len;
    name[n++] = ' ';
    return n;
}

static void uuid_event_id(void *self, const char *source, const char *id, unsigned index,
                          char out[PW_EVENT_ID_LEN + 1])
{
    (void)self;
    /* source and id are bounded by the codec: 1024 and 512 bytes. */
    char name[PW_CMD_SOURCE_BYTES + PW_CMD_ID_BYTES + 64];
    size_t n = uuid_put_len(name, 0, sizeof name, source);
    n = uuid_put_len(name, n, sizeof name, id);
    n = uuid_put_num(name, n, sizeof name, index);
    uuid_t u;
    uuid_generate_sha1(u, uuid_ns_postworker, name, n);
    uuid_unparse_lower(u, out);
}

static const struct pw_ids_ops uuid_ids_ops = {
    .name = "uuid",
    .event_id = uuid_event_id,
    .close = NULL,
};

void pw_uuid_ids_open(struct pw_ids *ids)
{
    ids->ops = &uuid_ids_ops;
    ids->self = NULL;
}
