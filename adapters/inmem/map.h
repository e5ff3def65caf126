/*
 * A string-keyed hash map for the in-memory adapters (internal to
 * adapters/inmem). Keys are byte strings with a length, so a composite key
 * such as source NUL id needs no escaping. Entries are removed one by one
 * only from the inbox (its retention); a transaction's overlay is cleared
 * whole.
 */
#ifndef PW_ADAPTERS_INMEM_MAP_H
#define PW_ADAPTERS_INMEM_MAP_H

#include <stddef.h>
#include <stdint.h>

struct inmem_slot {
    char *key; /* owned; NULL for an empty slot */
    size_t klen;
    uint64_t hash;
    void *val;   /* owned by the map's user */
    int64_t num; /* a plain value beside val */
};

/*
 * A map may grow incrementally, from the size its user sets: the larger
 * table is made at once, and the old one's entries move over a few at each
 * put after, so that no put stalls the worker on a whole rehash (130 ms
 * for a 393,216-entry map). A lookup meanwhile looks in both. So a map
 * that anything walks as slots[0..cap) (the parked posts, a transaction's
 * overlays) must keep incremental_from 0: it grows at once.
 *
 * Such a map also makes its next table ahead: once the last growth's moves
 * are done and it is 5/8 full, the table of twice its size is allocated
 * and each put touches one more page of it, so that the growth finds it
 * faulted in. A first touch of memory costs a page fault, 4 ms for a
 * 2 MiB huge page on this benchmark's machines: the first puts after a
 * growth, landing all over a cold 48 MiB table, held the worker 100 ms
 * and more. The price: from 5/8 full, the map holds both tables (it lets
 * the next one go if removals bring it under half full).
 */
#define INMEM_MAP_INCREMENTAL 65536
struct inmem_map {
    struct inmem_slot *slots;
    size_t cap; /* a power of two, or 0 */
    size_t len; /* entries in both tables */
    struct inmem_slot *old; /* the table being moved out of, or NULL */
    size_t old_cap, moved;  /* its size, and how many of its slots are done */
    size_t incremental_from; /* the cap from which it grows incrementally; 0: never */
    struct inmem_slot *next; /* the table the next growth moves into, made ahead, or NULL */
    size_t next_cap, next_touched; /* its size, and how many of its bytes are faulted in */
    size_t next_refused;           /* the cap at which making it ran out of memory, or 0 */
    size_t longest_move;     /* the most entries one put moved: for tests of the growth */
    size_t cold_growths;     /* growths into a table not wholly touched: for tests */
};

/* The slot of key, or NULL. */
struct inmem_slot *inmem_map_get(const struct inmem_map *map, const char *key, size_t klen);

/*
 * The slot of key, created empty (val NULL, num 0) if absent; *created says
 * which. NULL when memory runs out (the map is unchanged).
 */
struct inmem_slot *inmem_map_put(struct inmem_map *map, const char *key, size_t klen,
                                 int *created);

/*
 * Frees s's key (s from inmem_map_get or _put on map; its val is the
 * caller's to free first) and closes the gap, so that no tombstone is
 * left (but in an old table being moved out of, which goes whole): slots
 * after it may move, so pointers to slots are stale after.
 */
void inmem_map_remove(struct inmem_map *map, struct inmem_slot *s);

/* The longest probe a lookup in map can take: for tests of the hash. */
size_t inmem_map_longest_probe(const struct inmem_map *map);

/* Frees every key, calls free_val (if not NULL) on every val, and empties the map. */
void inmem_map_clear(struct inmem_map *map, void (*free_val)(void *val));

#endif
