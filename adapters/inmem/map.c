/*
 * Open addressing with linear probing, kept under 3/4 full. The keys come
 * from whoever can produce to the commands topic (a command's source and
 * id), so the hash is keyed: SipHash-1-3 with a seed drawn once per
 * process, and chosen ids cannot pile into one probe run and make the map
 * quadratic.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, madvise */
#include "adapters/inmem/map.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

static uint64_t map_k0, map_k1;
static pthread_once_t map_seeded = PTHREAD_ONCE_INIT;

static void map_seed(void)
{
    uint64_t k[2];
    if (getrandom(k, sizeof k, 0) != (ssize_t)sizeof k) {
        /* No entropy source: a clock is weaker, and still unknown to a producer. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        k[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)ts.tv_sec;
        k[1] = (uint64_t)(uintptr_t)&ts * 0xbf58476d1ce4e5b9ULL ^ k[0];
    }
    map_k0 = k[0];
    map_k1 = k[1];
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                              \
    do {                                                                                      \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                             \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                                \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                                \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                             \
    } while (0)

/* SipHash-1-3 of the klen bytes at key, under the process's seed. */
static uint64_t map_hash(const char *key, size_t klen)
{
    pthread_once(&map_seeded, map_seed);
    uint64_t v0 = 0x736f6d6570736575ULL ^ map_k0, v1 = 0x646f72616e646f6dULL ^ map_k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ map_k0, v3 = 0x7465646279746573ULL ^ map_k1;
    const unsigned char *p = (const unsigned char *)key;
    size_t whole = klen & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = 0;
        for (int b = 7; b >= 0; b--)
            m = m << 8 | p[i + (size_t)b];
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t last = (uint64_t)(klen & 0xff) << 56;
    for (size_t i = whole; i < klen; i++)
        last |= (uint64_t)p[i] << (8 * (i - whole));
    v3 ^= last;
    SIPROUND;
    v0 ^= last;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* A moved entry's old slot: occupied for the probes that pass it, matching nothing. */
static char map_moved_key;

static struct inmem_slot *map_find(struct inmem_slot *slots, size_t cap, const char *key,
                                   size_t klen, uint64_t hash)
{
    for (size_t i = hash & (cap - 1);; i = (i + 1) & (cap - 1)) {
        struct inmem_slot *s = &slots[i];
        if (!s->key || (s->hash == hash && s->klen == klen && s->key != &map_moved_key &&
                        memcmp(s->key, key, klen) == 0))
            return s;
    }
}

/* Moves old slot s (a live entry) into the new table, leaving a moved mark. */
static struct inmem_slot *map_move(struct inmem_map *map, struct inmem_slot *s)
{
    struct inmem_slot *to = map_find(map->slots, map->cap, s->key, s->klen, s->hash);
    *to = *s;
    s->key = &map_moved_key;
    return to;
}

/*
 * A table of cap slots, zeroed. A large one is mapped on its own and asked
 * for transparent huge pages: a first touch of each 4 KiB page costs a
 * fault (12 us on this benchmark's virtual machines, measured), and the
 * posts' and inbox's tables double together, 2 x 48 MiB at 393,216
 * entries, 20,000 faults inside a second of a paced run (its p99 at that
 * moment 391 ms, against 30-45 ms the seconds around it).
 */
#define MAP_HUGE_BYTES ((size_t)4 << 20)

static struct inmem_slot *map_table_new(size_t cap)
{
    size_t bytes = cap * sizeof(struct inmem_slot);
    if (bytes < MAP_HUGE_BYTES)
        return calloc(cap, sizeof(struct inmem_slot));
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    madvise(p, bytes, MADV_HUGEPAGE); /* a hint: where refused, 4 KiB pages as before */
    return p;
}

static void map_table_free(struct inmem_slot *slots, size_t cap)
{
    size_t bytes = cap * sizeof(struct inmem_slot);
    if (bytes < MAP_HUGE_BYTES)
        free(slots);
    else if (slots)
        munmap(slots, bytes);
}

/* Moves up to slots more of the old table's slots; frees it once all are. */
static void map_migrate(struct inmem_map *map, size_t slots)
{
    size_t n = 0;
    for (; slots-- && map->moved < map->old_cap; map->moved++) {
        struct inmem_slot *s = &map->old[map->moved];
        if (s->key && s->key != &map_moved_key) {
            map_move(map, s);
            n++;
        }
    }
    if (n > map->longest_move)
        map->longest_move = n;
    if (map->old && map->moved == map->old_cap) {
        map_table_free(map->old, map->old_cap);
        map->old = NULL;
        map->old_cap = map->moved = 0;
    }
}

static bool map_incremental(const struct inmem_map *map, size_t cap)
{
    return map->incremental_from && cap >= map->incremental_from;
}

/*
 * Once the last growth is done and the map 5/8 full, makes the next table;
 * then faults in one more page of it a put. Between 5/8 and 3/4 full there
 * are cap/8 puts, for 96 bytes a slot of the current table (2 x 48): 768
 * bytes a put, under a fifth of the page touched.
 */
#define MAP_PAGE 4096

static void map_prepare(struct inmem_map *map)
{
    size_t cap = map->cap * 2;
    if (!map->next) {
        if (map->old || !map_incremental(map, cap) || map->len * 8 <= map->cap * 5 ||
            map->next_refused == map->cap)
            return;
        if (!(map->next = map_table_new(cap))) {
            map->next_refused = map->cap; /* out of memory: not again at this size */
            return;                       /* the growth tries again, or fails its put */
        }
        map->next_cap = cap;
        map->next_touched = 0;
    }
    if (map->next_touched < map->next_cap * sizeof(struct inmem_slot)) {
        ((volatile char *)map->next)[map->next_touched] = 0; /* zero already: a write faults it in */
        map->next_touched += MAP_PAGE;
    }
}

static int map_grow(struct inmem_map *map)
{
    if (map->old) /* the last growth is not done: finish it first */
        map_migrate(map, SIZE_MAX);
    size_t cap = map->cap ? map->cap * 2 : 64;
    struct inmem_slot *slots = map->next;
    bool cold = !slots || map->next_touched < cap * sizeof(struct inmem_slot);
    if (slots) {
        map->next = NULL;
        map->next_cap = map->next_touched = 0;
    } else if (!(slots = map_table_new(cap))) {
        return -1;
    }
    map->cold_growths += cold && map_incremental(map, cap);
    map->old = map->slots;
    map->old_cap = map->cap;
    map->moved = 0;
    map->slots = slots;
    map->cap = cap;
    /*
     * Eight old slots a put: the old table (3/4 full at most) is empty
     * before the new one (half full now) can reach 3/4.
     */
    map_migrate(map, map_incremental(map, cap) ? 0 : SIZE_MAX);
    return 0;
}

/* The slot of key in either table, or NULL. */
static struct inmem_slot *map_lookup(const struct inmem_map *map, const char *key, size_t klen,
                                     uint64_t hash)
{
    struct inmem_slot *s = map_find(map->slots, map->cap, key, klen, hash);
    if (!s->key && map->old)
        s = map_find(map->old, map->old_cap, key, klen, hash);
    return s->key ? s : NULL;
}

struct inmem_slot *inmem_map_get(const struct inmem_map *map, const char *key, size_t klen)
{
    if (!map->cap)
        return NULL;
    return map_lookup(map, key, klen, map_hash(key, klen));
}

struct inmem_slot *inmem_map_put(struct inmem_map *map, const char *key, size_t klen,
                                 int *created)
{
    *created = 0;
    if (map->old)
        map_migrate(map, 8);
    else if (map->incremental_from)
        map_prepare(map);
    if ((map->len + 1) * 4 > map->cap * 3 && map_grow(map) < 0)
        return NULL;
    uint64_t hash = map_hash(key, klen);
    struct inmem_slot *s = map_lookup(map, key, klen, hash);
    if (s)
        return s >= map->slots && s < map->slots + map->cap ? s : map_move(map, s);
    s = map_find(map->slots, map->cap, key, klen, hash);
    s->key = malloc(klen ? klen : 1);
    if (!s->key)
        return NULL;
    memcpy(s->key, key, klen);
    s->klen = klen;
    s->hash = hash;
    s->val = NULL;
    s->num = 0;
    map->len++;
    *created = 1;
    return s;
}

void inmem_map_clear(struct inmem_map *map, void (*free_val)(void *val))
{
    if (map->old)
        map_migrate(map, SIZE_MAX);
    for (size_t i = 0; i < map->cap; i++) {
        struct inmem_slot *s = &map->slots[i];
        if (!s->key)
            continue;
        if (free_val)
            free_val(s->val);
        free(s->key);
    }
    map_table_free(map->slots, map->cap);
    map_table_free(map->next, map->next_cap);
    size_t from = map->incremental_from;
    memset(map, 0, sizeof *map);
    map->incremental_from = from;
}

void inmem_map_remove(struct inmem_map *map, struct inmem_slot *s)
{
    if (s < map->slots || s >= map->slots + map->cap) {
        /* In the old table: marked as moved, so that the probes past it hold. */
        free(s->key);
        s->key = &map_moved_key;
        map->len--;
        return;
    }
    size_t mask = map->cap - 1, gap = (size_t)(s - map->slots);
    free(s->key);
    map->len--;
    if (map->next && map->len * 2 < map->cap) { /* shrunk back (retention): not growing soon */
        map_table_free(map->next, map->next_cap);
        map->next = NULL;
        map->next_cap = map->next_touched = 0;
    }
    /* Backward shift: an entry after the gap moves into it unless its home lies between. */
    for (size_t j = (gap + 1) & mask; map->slots[j].key; j = (j + 1) & mask) {
        size_t home = map->slots[j].hash & mask;
        bool between = gap <= j ? gap < home && home <= j : gap < home || home <= j;
        if (!between) {
            map->slots[gap] = map->slots[j];
            gap = j;
        }
    }
    memset(&map->slots[gap], 0, sizeof map->slots[gap]);
}

static size_t map_longest(const struct inmem_slot *slots, size_t cap)
{
    size_t longest = 0;
    for (size_t i = 0; i < cap; i++) {
        const struct inmem_slot *s = &slots[i];
        if (!s->key || s->key == &map_moved_key)
            continue;
        size_t home = s->hash & (cap - 1), probe = (i - home) & (cap - 1);
        if (probe + 1 > longest)
            longest = probe + 1;
    }
    return longest;
}

size_t inmem_map_longest_probe(const struct inmem_map *map)
{
    size_t longest = map_longest(map->slots, map->cap);
    size_t old = map->old ? map_longest(map->old, map->old_cap) : 0;
    return longest > old ? longest : old;
}
