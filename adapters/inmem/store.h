/*
 * The in-memory store's state, shared by uow_inmem.c and outbox_inmem.c
 * (internal to adapters/inmem). One mutex guards it: units of work touch it
 * only to read through and at commit, so it is never held long.
 */
#ifndef PW_ADAPTERS_INMEM_STORE_H
#define PW_ADAPTERS_INMEM_STORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "adapters/inmem/map.h"
#include "ports/message.h"
#include "ports/parking.h"
#include "ports/store.h"

struct inmem_outbox_row {
    uint64_t seq; /* commit order, from 1 */
    int64_t committed_ms; /* wall clock at commit, for the oldest row's age */
    bool removed;
    struct pw_out out;
};

/* The last run started at a partition (ports/store.h, struct pw_run_start). */
struct inmem_run {
    int64_t offset;
    uint64_t token;
    bool alone;
    unsigned deaths;
};

/* A held command, with the time it was held. */
struct inmem_held {
    struct pw_held h;
    char source[PW_CMD_SOURCE_BYTES + 1];
    char id[PW_CMD_ID_BYTES + 1];
    int64_t held_ms;
};

/*
 * A place in a post's queue. In the store, e is the held command, which the
 * store owns. In a transaction's copy, e is NULL for a command the store
 * holds (the copy knows it by seq: another thread's commit may free it) and
 * the transaction's own for one it holds.
 */
struct inmem_qent {
    uint64_t seq;
    int64_t held_ms;
    struct inmem_held *e;
};

/*
 * A post's parking: what it waits on (p.value points at value) and its held
 * commands in order. version counts changes, for the commit's check. A
 * transaction works on a copy (inmem_park_copy).
 */
struct inmem_park {
    struct pw_parked p;
    char *value;
    struct inmem_qent *q;
    size_t nq, cap;
    uint64_t version;
};

/* A post's place in the read side's order (ports/query.h): created_at, then post_id. */
struct inmem_order {
    pw_time at;
    char id[PW_POST_ID_MAX + 1];
};

/*
 * The page order is a list of blocks, each in order and each before the
 * next (order_inmem.c): an insertion moves at most a block's entries, and a
 * page starts by bisection, over the blocks, then in one.
 */
#define INMEM_ORDER_BLOCK 512
struct inmem_order_block {
    size_t n;
    struct inmem_order e[INMEM_ORDER_BLOCK];
};

/* A place in the page order: block b, entry i; b == nblocks at the end. */
struct inmem_order_pos {
    size_t b, i;
};

/* An inbox mark's key (the map's own) and when it was made, for the retention. */
struct inmem_age {
    const char *key;
    size_t klen;
    int64_t at_ms;
};

struct pw_inmem_store {
    pthread_mutex_t lock;
    struct inmem_map posts;   /* post_id -> struct pw_post * */
    struct inmem_order_block **blocks; /* every post, in page order */
    size_t nblocks, cap_blocks;
    struct inmem_map inbox;   /* source NUL id -> num: outcome code */
    struct inmem_age *ages;   /* the inbox's marks in the order they were made: [head, len) */
    size_t ages_head, ages_len, ages_cap;
    struct inmem_map offsets; /* group NUL topic NUL partition -> num: next offset */
    struct inmem_map runs;    /* the same key -> struct inmem_run * */
    struct inmem_map parks;   /* post_id -> struct inmem_park *, NULL when not parked */
    struct inmem_map held_ids; /* source NUL id -> num: seq of the held command, 0 none */
    uint64_t next_held_seq;
    const void *drainer; /* the store port handle that drains held commands; NULL: none yet */
    struct inmem_outbox_row *outbox;
    size_t outbox_head, outbox_len, outbox_cap; /* live rows are [head, len) */
    uint64_t next_seq;
    const void *relay; /* the outbox reader that publishes, one at a time; NULL: none yet */
    uint64_t changes;  /* commits and releases, from 1: readers wait on it (query_inmem.c) */
    pthread_cond_t changed; /* broadcast when changes moves; on the monotonic clock */
};

/* Adds a new post to the page order; PW_E_NOMEM (nothing added) with the store's lock held. */
enum pw_err inmem_order_add(struct pw_inmem_store *st, const struct pw_post *post);
/* The first place in the page order after (at, id); with after false, the first of all. */
struct inmem_order_pos inmem_order_after(const struct pw_inmem_store *st, bool after, pw_time at,
                                         const char *id);
/* The entry at p (NULL at the end), and the place after it. */
const struct inmem_order *inmem_order_at(const struct pw_inmem_store *st,
                                         struct inmem_order_pos p);
struct inmem_order_pos inmem_order_next(const struct pw_inmem_store *st, struct inmem_order_pos p);
void inmem_order_free(struct pw_inmem_store *st);

/* Counts a change and wakes the readers waiting for one; with the store's lock held. */
void inmem_changed(struct pw_inmem_store *st);

/*
 * An inbox mark: num packs the outcome code (low byte) and the version the
 * command made (the rest); val is the post_id it was for (owned, or NULL).
 */
#define INMEM_MARK(outcome, version) ((int64_t)(outcome) | (int64_t)(version) << 8)
#define INMEM_MARK_OUTCOME(num) ((enum pw_err)((num) & 0xff))
#define INMEM_MARK_VERSION(num) ((num) >> 8)

/* Records that the inbox mark s was just made; PW_E_NOMEM with the store's lock held. */
enum pw_err inmem_mark_made(struct pw_inmem_store *st, const struct inmem_slot *s);

/* Frees a struct pw_post * stored as a map value. */
void inmem_post_free(void *val);

/* Inbox and held-command keys are source NUL id; both are bounded by the codec's limits. */
#define INMEM_KEY_MAX (PW_CMD_SOURCE_BYTES + PW_CMD_ID_BYTES + 2)

/* key = a NUL b; b of blen bytes. PW_E_FATAL if it would not fit in INMEM_KEY_MAX. */
enum pw_err inmem_key(char *buf, size_t *klen, const char *a, const void *b, size_t blen,
                      struct pw_errbuf *err);

/* The offsets and runs key: group NUL topic NUL partition. */
enum pw_err inmem_offset_key(char *buf, size_t *klen, const char *group, const char *topic,
                             int32_t partition, struct pw_errbuf *err);

/* A transaction's copy of park, its queue by seq (NULL park: a new, empty one); NULL on ENOMEM. */
struct inmem_park *inmem_park_copy(const struct inmem_park *park);
/* Frees a park, not the entries of its queue. */
void inmem_park_free(void *park);
/* Frees a held entry and what it owns. */
void inmem_held_free(struct inmem_held *held);

/* The store port's parking queries (park_inmem.c), with the store's lock held. */
enum pw_err inmem_held_next(struct pw_inmem_store *st, struct pw_held *h, bool *found,
                            struct pw_errbuf *err);
enum pw_err inmem_parked_list(struct pw_inmem_store *st, const char *after,
                              struct pw_parked *out, size_t max, size_t *n);
void inmem_parking_stats(struct pw_inmem_store *st, struct pw_parking_stats *stats);
enum pw_err inmem_release(struct pw_inmem_store *st, const char *post_id, bool dry_run,
                          struct pw_parked *p, bool *found, struct pw_errbuf *err);

#endif
