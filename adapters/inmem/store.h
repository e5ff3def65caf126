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

struct inmem_outbox_row {
    uint64_t seq; /* commit order, from 1 */
    int64_t committed_ms; /* wall clock at commit, for the oldest row's age */
    bool removed;
    struct pw_out out;
};

struct pw_inmem_store {
    pthread_mutex_t lock;
    struct inmem_map posts;   /* post_id -> struct pw_post * */
    struct inmem_map inbox;   /* source NUL id -> num: outcome code */
    struct inmem_map offsets; /* group NUL topic NUL partition -> num: next offset */
    struct inmem_map attempts; /* the same key -> num: offset, val: unsigned * tries */
    struct inmem_outbox_row *outbox;
    size_t outbox_head, outbox_len, outbox_cap; /* live rows are [head, len) */
    uint64_t next_seq;
    const void *relay; /* the outbox reader that publishes, one at a time; NULL: none yet */
};

/* Frees a struct pw_post * stored as a map value. */
void inmem_post_free(void *val);

#endif
