/*
 * A fast reader for the shape nearly every command has: one JSON object
 * whose members are strings, nulls, integers of up to 18 digits, and
 * objects of those (one level deep, as "data" is). It says no to anything
 * else: a \u escape, a number with a fraction or an exponent, true, false,
 * an array, a duplicate or escaped key, a control character, text that is
 * not UTF-8, deeper nesting, more than PW_JSON_FLAT_MAX members, bytes after
 * the object. Then the caller reads the message with jansson, as before.
 *
 * So it only ever accepts what jansson accepts, with the same values, and
 * every error about the JSON itself still comes from jansson (the fuzz
 * target compares the two readers on every input). It saves building a
 * jansson tree, which was a third of the worker's time.
 */
#ifndef PW_ADAPTERS_KAFKA_JSON_IN_H
#define PW_ADAPTERS_KAFKA_JSON_IN_H

#include <stdbool.h>
#include <stddef.h>

#define PW_JSON_FLAT_MAX 32

enum pw_json_kind { PW_JSON_STRING, PW_JSON_NULL, PW_JSON_INTEGER, PW_JSON_OBJECT };

struct pw_json_member {
    const char *key; /* into the message, not NUL-terminated */
    size_t klen;
    enum pw_json_kind kind;
    const char *str; /* PW_JSON_STRING: unescaped and NUL-terminated, in scratch */
    size_t len;
    long long num;   /* PW_JSON_INTEGER */
    int parent;      /* -1: a member of the outer object; else the index of its object */
};

struct pw_json_flat {
    struct pw_json_member m[PW_JSON_FLAT_MAX];
    size_t n;
    char *scratch; /* the strings; owned, freed by pw_json_flat_release */
};

/*
 * Reads buf as above into *f: true if it has that shape (release *f after),
 * false if not, and then nothing is held.
 */
bool pw_json_flat_read(const char *buf, size_t len, struct pw_json_flat *f);

/* The member named key of the object parent (-1: the outer one), or NULL. */
const struct pw_json_member *pw_json_flat_get(const struct pw_json_flat *f, int parent,
                                              const char *key);

void pw_json_flat_release(struct pw_json_flat *f);

#endif
