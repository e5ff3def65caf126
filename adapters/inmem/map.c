/*
 * Open addressing with linear probing, kept under 3/4 full. FNV-1a is enough:
 * the keys are ids from our own producers, and a test store is small.
 */
#include "adapters/inmem/map.h"

#include <stdlib.h>
#include <string.h>

static uint64_t map_hash(const char *key, size_t klen)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < klen; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static struct inmem_slot *map_find(struct inmem_slot *slots, size_t cap, const char *key,
                                   size_t klen, uint64_t hash)
{
    for (size_t i = hash & (cap - 1);; i = (i + 1) & (cap - 1)) {
        struct inmem_slot *s = &slots[i];
        if (!s->key || (s->hash == hash && s->klen == klen && memcmp(s->key, key, klen) == 0))
            return s;
    }
}

static int map_grow(struct inmem_map *map)
{
    size_t cap = map->cap ? map->cap * 2 : 64;
    struct inmem_slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < map->cap; i++) {
        struct inmem_slot *s = &map->slots[i];
        if (s->key)
            *map_find(slots, cap, s->key, s->klen, s->hash) = *s;
    }
    free(map->slots);
    map->slots = slots;
    map->cap = cap;
    return 0;
}

struct inmem_slot *inmem_map_get(const struct inmem_map *map, const char *key, size_t klen)
{
    if (!map->cap)
        return NULL;
    struct inmem_slot *s = map_find(map->slots, map->cap, key, klen, map_hash(key, klen));
    return s->key ? s : NULL;
}

struct inmem_slot *inmem_map_put(struct inmem_map *map, const char *key, size_t klen,
                                 int *created)
{
    if ((map->len + 1) * 4 > map->cap * 3 && map_grow(map) < 0)
        return NULL;
    uint64_t hash = map_hash(key, klen);
    struct inmem_slot *s = map_find(map->slots, map->cap, key, klen, hash);
    *created = 0;
    if (s->key)
        return s;
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
    for (size_t i = 0; i < map->cap; i++) {
        struct inmem_slot *s = &map->slots[i];
        if (!s->key)
            continue;
        if (free_val)
            free_val(s->val);
        free(s->key);
    }
    free(map->slots);
    memset(map, 0, sizeof *map);
}
