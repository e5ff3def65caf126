/*
 * The JSON the worker writes (events, and postctl's commands), by hand:
 * one buffer grows as members are added, with nothing built in between.
 * Strings are escaped exactly as jansson's json_dumps(JSON_COMPACT) escapes
 * them, so the bytes on the wire are the ones a jansson encoder would give
 * (tests/test_json_out.c compares the two). Text that is not UTF-8, or a
 * failed allocation, fails the whole document instead of reaching the wire.
 */
#ifndef PW_ADAPTERS_KAFKA_JSON_OUT_H
#define PW_ADAPTERS_KAFKA_JSON_OUT_H

#include <stdbool.h>
#include <stddef.h>

struct pw_json_out {
    char *buf;
    size_t len, cap;
    bool comma;  /* a member came before: the next one needs a comma */
    bool failed; /* out of memory, or text that is not UTF-8 */
};

/* Starts a document, "{", with room for about hint bytes. */
void pw_json_begin(struct pw_json_out *w, size_t hint);

/* "key":{ ... up to the matching pw_json_end. */
void pw_json_object(struct pw_json_out *w, const char *key);

/* "key":"val", escaped; null when val is NULL. */
void pw_json_string(struct pw_json_out *w, const char *key, const char *val);

/* "key":v */
void pw_json_integer(struct pw_json_out *w, const char *key, long long v);

/* Closes the innermost object. */
void pw_json_end(struct pw_json_out *w);

/*
 * The document, NUL-terminated, owned by the caller (free()), and its length
 * in *len; NULL if any step failed, and then nothing is left to free.
 */
char *pw_json_finish(struct pw_json_out *w, size_t *len);

#endif
