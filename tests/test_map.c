/*
 * The in-memory store's hash map against chosen keys: the audit built ids
 * whose unkeyed FNV-1a hashes agree in their low 20 bits, so that every one
 * landed in one probe run and inserts went quadratic.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "adapters/inmem/map.h"

#define FNV_PRIME 1099511628211ULL
#define LOW 0xfffffULL /* the bits a map of up to 2^20 slots indexes by */

static uint64_t fnv_step(uint64_t h, const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * FNV_PRIME;
    return h;
}

/*
 * Joux's multicollision on FNV-1a's low 20 bits: at each of steps steps, two
 * 3-byte printable blocks that take the state to the same low bits, found by
 * birthday search. Any choice of one block per step gives the same low bits:
 * 2^steps keys of 3*steps bytes.
 */
static void fnv_blocks(int steps, unsigned char (*pairs)[2][3])
{
    uint64_t h = 1469598103934665603ULL;
    uint32_t *seen = calloc(LOW + 1, sizeof *seen); /* low bits -> block + 1 */
    for (int s = 0; s < steps; s++) {
        memset(seen, 0, (LOW + 1) * sizeof *seen);
        for (uint32_t x = 0;; x++) {
            unsigned char b[3] = {(unsigned char)('a' + x % 26), (unsigned char)('a' + x / 26 % 26),
                                  (unsigned char)('A' + x / 676 % 58)};
            uint64_t low = fnv_step(h, b, 3) & LOW;
            if (seen[low]) {
                uint32_t y = seen[low] - 1;
                unsigned char c[3] = {(unsigned char)('a' + y % 26), (unsigned char)('a' + y / 26 % 26),
                                      (unsigned char)('A' + y / 676 % 58)};
                memcpy(pairs[s][0], c, 3);
                memcpy(pairs[s][1], b, 3);
                h = fnv_step(h, b, 3);
                break;
            }
            seen[low] = x + 1;
        }
    }
    free(seen);
}

Test(map, keys_chosen_to_collide_under_an_unkeyed_hash_spread_out)
{
    enum { STEPS = 15, N = 1 << STEPS };
    unsigned char pairs[STEPS][2][3];
    fnv_blocks(STEPS, pairs);
    struct inmem_map map = {0};
    char key[3 * STEPS];
    for (uint32_t k = 0; k < N; k++) {
        for (int s = 0; s < STEPS; s++)
            memcpy(key + 3 * s, pairs[s][(k >> s) & 1], 3);
        int created;
        cr_assert(inmem_map_put(&map, key, sizeof key, &created));
        cr_assert(created, "key %u is new", k);
    }
    cr_assert_eq(map.len, N);
    size_t longest = inmem_map_longest_probe(&map);
    /* Unkeyed, every key would share one home slot: a run of N. */
    cr_assert_lt(longest, 64, "the longest probe is %zu slots", longest);
    inmem_map_clear(&map, NULL);
}

/*
 * Removal closes its gap (the inbox's retention): after any mix of puts and
 * removes, every key left is found and every key removed is not, with no
 * tombstone lengthening the probes. Seeded, so a failure replays.
 */
static void puts_and_removes(size_t incremental_from)
{
    enum { N = 6000 };
    static bool in[N];
    memset(in, 0, sizeof in);
    struct inmem_map map = {.incremental_from = incremental_from};
    unsigned seed = 20261202;
    for (int round = 0; round < 40000; round++) {
        int k = (int)(rand_r(&seed) % N);
        char key[16];
        size_t klen = (size_t)snprintf(key, sizeof key, "k%d", k);
        if (in[k]) {
            struct inmem_slot *s = inmem_map_get(&map, key, klen);
            cr_assert_not_null(s, "key %d went missing", k);
            inmem_map_remove(&map, s);
            in[k] = false;
        } else {
            int created;
            cr_assert_not_null(inmem_map_put(&map, key, klen, &created));
            cr_assert(created);
            in[k] = true;
        }
    }
    size_t live = 0;
    for (int k = 0; k < N; k++) {
        char key[16];
        size_t klen = (size_t)snprintf(key, sizeof key, "k%d", k);
        cr_assert_eq(inmem_map_get(&map, key, klen) != NULL, in[k], "key %d", k);
        live += in[k];
    }
    cr_assert_eq(map.len, live);
    inmem_map_clear(&map, NULL);
}

Test(map, removing_keys_in_any_order_leaves_the_others_found)
{
    puts_and_removes(0);
}

/* The same while every growth moves its entries a few at a time. */
Test(map, removing_keys_in_any_order_while_the_map_grows_leaves_the_others_found)
{
    puts_and_removes(64);
}

/*
 * A big map grows without a stall: no put moves more than a few entries,
 * and every key is found at every moment, whichever table holds it (a
 * full rehash of 393,216 entries held the worker for half a second, the
 * p99 of a paced run).
 */
Test(map, a_growing_map_moves_a_few_entries_a_put_and_finds_every_key)
{
    enum { N = 200000 };
    struct inmem_map map = {.incremental_from = 64};
    char key[16];
    for (int k = 0; k < N; k++) {
        size_t klen = (size_t)snprintf(key, sizeof key, "p%d", k);
        int created;
        struct inmem_slot *s = inmem_map_put(&map, key, klen, &created);
        cr_assert(s && created);
        s->num = k;
        if (k % 997 == 0) /* some of the keys so far, wherever they are now */
            for (int j = 0; j <= k; j += 101) {
                klen = (size_t)snprintf(key, sizeof key, "p%d", j);
                struct inmem_slot *g = inmem_map_get(&map, key, klen);
                cr_assert(g && g->num == j, "key %d after %d puts", j, k + 1);
            }
    }
    /* Put again: found, wherever it is, and not doubled. */
    for (int k = 0; k < N; k += 7) {
        size_t klen = (size_t)snprintf(key, sizeof key, "p%d", k);
        int created;
        struct inmem_slot *s = inmem_map_put(&map, key, klen, &created);
        cr_assert(s && !created && s->num == k, "key %d", k);
    }
    cr_assert_eq(map.len, N);
    cr_assert_leq(map.longest_move, 8, "a put moved %zu entries", map.longest_move);
    cr_log_info("longest probe %zu of %zu slots", inmem_map_longest_probe(&map), map.cap);
    inmem_map_clear(&map, NULL);
}

/*
 * A growth moves into a table already faulted in: the first puts after it
 * land all over the new table, and on a cold one each took a page fault
 * (4 ms for a huge page on the benchmark's machines: 100 ms and more for
 * the first few dozen puts, the p99 of a paced run at 196,608 and 393,216
 * posts). Counted by the kernel: the minor faults of the puts right after
 * each growth to a large table.
 */
static long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

Test(map, a_growth_moves_into_a_table_already_faulted_in)
{
    enum { N = 400000, AFTER = 64 };
    struct inmem_map map = {.incremental_from = INMEM_MAP_INCREMENTAL};
    char key[16];
    size_t growths = 0;
    long worst = 0;
    for (int k = 0; k < N; k++) {
        size_t cap = map.cap;
        size_t klen = (size_t)snprintf(key, sizeof key, "p%d", k);
        int created;
        cr_assert(inmem_map_put(&map, key, klen, &created) && created);
        if (map.cap == cap || map.cap < 4 * INMEM_MAP_INCREMENTAL)
            continue;
        growths++;
        long before = minor_faults();
        for (int j = 1; j <= AFTER; j++) {
            klen = (size_t)snprintf(key, sizeof key, "p%d", k + j);
            cr_assert(inmem_map_put(&map, key, klen, &created) && created);
        }
        k += AFTER;
        long faults = minor_faults() - before;
        if (faults > worst)
            worst = faults;
    }
    cr_assert_geq(growths, 2, "the map grew to large tables");
    cr_expect_eq(map.cold_growths, 0, "%zu growths into a table not faulted in", map.cold_growths);
    cr_expect_lt(worst, AFTER / 4, "%ld page faults in the %d puts after a growth", worst, AFTER);
    inmem_map_clear(&map, NULL);
}

/* A map that removals bring back under half full lets its next table go. */
Test(map, a_map_that_shrinks_back_lets_its_next_table_go)
{
    struct inmem_map map = {.incremental_from = 64};
    char key[16];
    int n = 0;
    while (!map.next) {
        size_t klen = (size_t)snprintf(key, sizeof key, "p%d", n++);
        int created;
        cr_assert(inmem_map_put(&map, key, klen, &created) && created);
    }
    size_t cap = map.cap;
    for (int k = 0; map.len * 2 >= cap; k++) {
        size_t klen = (size_t)snprintf(key, sizeof key, "p%d", k);
        struct inmem_slot *s = inmem_map_get(&map, key, klen);
        cr_assert_not_null(s, "key %d", k);
        inmem_map_remove(&map, s);
    }
    cr_expect_null(map.next, "under half full of %zu slots: no table held ahead", cap);
    cr_expect_eq(map.cap, cap);
    inmem_map_clear(&map, NULL);
}
