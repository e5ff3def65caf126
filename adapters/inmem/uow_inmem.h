/*
 * The in-memory unit of work's state (internal to adapters/inmem): the
 * overlay one transaction writes into (uow_inmem.c, park_inmem.c) and
 * commit moves into the store (commit_inmem.c).
 */
#ifndef PW_ADAPTERS_INMEM_UOW_INMEM_H
#define PW_ADAPTERS_INMEM_UOW_INMEM_H

#include "adapters/inmem/store.h"
#include "ports/uow.h"

/* Outbox rows of one kind, in the order recorded. */
struct inmem_rows {
    struct pw_out *v;
    size_t n, cap;
};

struct inmem_uow {
    struct pw_inmem_store *store;
    bool open;
    struct inmem_map posts;   /* post_id -> struct pw_post *; num: store version seen, 0 none */
    struct inmem_map inbox;   /* source NUL id -> num: outcome */
    struct inmem_map offsets; /* group NUL topic NUL partition -> num: next offset */
    /*
     * post_id -> struct inmem_park * (a copy; NULL: not parked), num: the
     * store's version of it when first read (0: none); the queue's new
     * entries are the overlay's until commit.
     */
    struct inmem_map parks;
    struct inmem_map held_ids; /* source NUL id -> num: seq of a command this one holds */
    struct inmem_held **fresh; /* the entries this transaction made (freed if it rolls back) */
    size_t nfresh, cap_fresh;
    struct inmem_rows events; /* the outbox rows of this transaction: events, */
    struct inmem_rows dead;   /* then dead letters */
};

enum pw_err inmem_uow_need_open(struct inmem_uow *u, struct pw_errbuf *err);

/* Forgets the overlay: what it staged is dropped, the transaction is over. */
void inmem_uow_drop(struct inmem_uow *u);

/* Commit (commit_inmem.c): the overlay into the store, or nothing and a transient error. */
enum pw_err inmem_uow_commit(void *self, struct pw_errbuf *err);

/* The parking operations of the port (park_inmem.c). */
enum pw_err inmem_uow_parked_get(void *self, const char *post_id, struct pw_parked *p,
                                 bool *found, struct pw_errbuf *err);
enum pw_err inmem_uow_park(void *self, const struct pw_parked *p, struct pw_errbuf *err);
enum pw_err inmem_uow_unpark(void *self, const char *post_id, struct pw_errbuf *err);
enum pw_err inmem_uow_hold(void *self, const char *post_id, const char *source, const char *id,
                           const struct pw_origin *o, unsigned deaths, struct pw_errbuf *err);
enum pw_err inmem_uow_held_get(void *self, const char *source, const char *id, bool *found,
                               struct pw_errbuf *err);
enum pw_err inmem_uow_held_done(void *self, uint64_t seq, struct pw_errbuf *err);

/* The wall clock in milliseconds, for the ages the metrics show. */
int64_t inmem_now_ms(void);

#endif
