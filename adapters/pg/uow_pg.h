/*
 * The PostgreSQL unit of work's state (internal to adapters/pg): the read
 * cache of one transaction (uow_pg.c) and its buffered writes, which
 * write_pg.c sends at commit.
 */
#ifndef PW_ADAPTERS_PG_UOW_PG_H
#define PW_ADAPTERS_PG_UOW_PG_H

#include "adapters/pg/conn.h"
#include "ports/message.h"
#include "ports/store.h"
#include "ports/uow.h"

/*
 * The inbox marks of the keys in $1/$2, one row for each key found. Not a
 * join: prepared, the statement gets a generic plan after five runs, and
 * the one made while the inbox is still small (a new deployment) is a hash
 * join over a sequential scan of the whole inbox, kept as the inbox grows:
 * 13 ms a batch after 120,000 commands, and rising. A subquery per key is
 * planned as a primary-key lookup at any size (auto_explain showed both).
 */
#define PG_INBOX_PREFETCH                                                                    \
    "SELECT source, id, outcome FROM (SELECT k.source, k.id,"                                \
    " (SELECT i.outcome FROM inbox i WHERE i.source = k.source AND i.id = k.id) AS outcome" \
    " FROM unnest($1::text[], $2::text[]) AS k(source, id)) m WHERE outcome IS NOT NULL"

/*
 * What the transaction's trees order by: a hash of the strings first, so
 * that a lookup compares integers and reads a string only on a tie (ids
 * that share a long prefix made strcmp 4 % of the worker's time). The
 * hash needs no key: a tie costs one strcmp, the tree stays balanced.
 */
struct pg_key {
    uint64_t hash;
    const char *a, *b; /* b: "" for a post */
};

/* A post as this transaction sees it: read (found or not) and maybe written. */
struct pg_post_slot {
    struct pg_key key; /* first: the tree's nodes are the slots */
    struct pw_post post; /* post_id always set; the rest only if found */
    bool found;
    bool written;
    signed char parked; /* 0: the prefetch found it not parked, and nothing parked it since; -1 ask */
    int64_t base; /* the version in the database when first read, 0 if none */
};

/* An inbox mark as this transaction sees it. */
struct pg_mark {
    struct pg_key key; /* first: the tree's nodes are the marks */
    bool found;
    bool written;
    enum pw_err outcome;
    char post_id[PW_POST_ID_MAX + 1]; /* written: the post it was for; "" when not known */
    int64_t version;                  /* written and applied: the version it made */
    char buf[]; /* source, then id: key.a and key.b */
};

/* A consumer position to store; group and topic point into buf. */
struct pg_offset {
    const char *group, *topic;
    int32_t partition;
    int64_t next;
    char *buf;
};

struct pg_uow {
    struct pg_conn conn;
    bool open;
    bool held; /* a command was held: readers waiting on it are told at commit */
    void *posts_index; /* tsearch tree over posts[] */
    struct pg_post_slot **posts;
    size_t nposts, cap_posts;
    void *marks_index;
    struct pg_mark **marks;
    size_t nmarks, cap_marks;
    struct pw_out *events; /* outbox rows: events (kind PW_OUT_EVENT), */
    size_t nevents, cap_events;
    struct pw_out *dead;   /* and dead letters, each in the order recorded */
    size_t ndead, cap_dead;
    struct pg_offset *offsets;
    size_t noffsets, cap_offsets;
    unsigned char **values; /* failed values of parked posts read, PQfreemem'd at the end */
    size_t nvalues, cap_values;
    bool sending;          /* pg_uow_write: the writes go into the pipeline */
    bool sent_rows;        /* the commit on its way wrote outbox rows */
    uint64_t sent_gen;     /* relaxed: pg_relaxed_sent before it, its WAL's end read with it */
    /*
     * After a commit sent without waiting failed, commits wait for their
     * end until then, and until a whole batch has committed so (pg_uow_end).
     */
    int64_t wait_until_ms;
    bool wait_for_one;
};

/* After a commit sent without waiting failed: at least this long, commits wait for their end. */
#define PG_WAIT_AFTER_LOSS_MS 60000

enum pw_err pg_uow_need_open(struct pg_uow *u, struct pw_errbuf *err);
/* Ends the transaction's state in memory: its slots, marks and rows freed. */
void pg_uow_drop(struct pg_uow *u);
struct pg_post_slot *pg_post_find(struct pg_uow *u, const char *post_id);

/* Grows *v (of *cap elements of size) to hold need; -1 when memory runs out. */
int pg_grow(void **v, size_t *cap, size_t need, size_t size);

/*
 * Sends the transaction's buffered writes, one multi-row statement per
 * table, with the optimistic checks of uow_pg.c's top comment; the caller
 * then commits or rolls back. send: the last of them and the COMMIT go
 * out without waiting (pg_uow_settle, the port's settle, reads them).
 */
enum pw_err pg_uow_write(struct pg_uow *u, bool send, struct pw_errbuf *err);
enum pw_err pg_uow_settle(void *self, struct pw_errbuf *err);
/* Writes and commits: commit (send false) and commit_send of ports/uow.h. */
enum pw_err pg_uow_end(struct pg_uow *u, bool send, struct pw_errbuf *err);

/* The unit of work's offset_put (ports/uow.h), buffered like every write: in write_pg.c. */
enum pw_err pg_uow_offset_put(void *self, const char *group, const char *topic,
                              int32_t partition, int64_t offset, struct pw_errbuf *err);

/*
 * The commit-time statements of new posts (8 arrays: post_id, author_name,
 * title, body, version, created_at, updated_at, deleted_at), inbox marks
 * (source, id, outcome) and offsets (group, topic, partition, next): in
 * write_pg.c, shared with the database's ceiling of make bench.
 */
extern const char pg_insert_posts_sql[];
extern const char pg_insert_inbox_sql[];
extern const char pg_update_posts_sql[];
extern const char pg_upsert_offsets_sql[];
/* Makes the still empty arrays of new posts (8) or inbox marks (5) binary where they can be. */
void pg_post_arrays(struct pg_array *c);
void pg_inbox_arrays(struct pg_array *c);

/* The unit of work's parking operations (ports/uow.h): in parking_pg.c. */
enum pw_err pg_uow_parked_get(void *self, const char *post_id, struct pw_parked *p, bool *found,
                              struct pw_errbuf *err);
enum pw_err pg_uow_park(void *self, const struct pw_parked *p, struct pw_errbuf *err);
enum pw_err pg_uow_unpark(void *self, const char *post_id, struct pw_errbuf *err);
enum pw_err pg_uow_hold(void *self, const char *post_id, const char *source, const char *id,
                        const struct pw_origin *o, unsigned deaths, struct pw_errbuf *err);
enum pw_err pg_uow_held_get(void *self, const char *source, const char *id, bool *found,
                            struct pw_errbuf *err);
enum pw_err pg_uow_held_done(void *self, uint64_t seq, struct pw_errbuf *err);

/* The store port's queries (ports/store.h) on connection c: in parking_pg.c and runs_pg.c. */
enum pw_err pg_held_next(struct pg_conn *c, struct pw_held *h, bool *found,
                         struct pw_errbuf *err);
enum pw_err pg_parked_list(struct pg_conn *c, const char *after, struct pw_parked *out,
                           size_t max, size_t *n, struct pw_errbuf *err);
enum pw_err pg_parking_stats(struct pg_conn *c, struct pw_parking_stats *st,
                             struct pw_errbuf *err);
enum pw_err pg_release(struct pg_conn *c, const char *post_id, bool dry_run, struct pw_parked *p,
                       bool *found, struct pw_errbuf *err);
enum pw_err pg_runs_end(struct pg_conn *c, const struct pw_run_start *r, size_t n,
                        struct pw_errbuf *err);
enum pw_err pg_runs_start(struct pg_conn *c, struct pw_run_start *r, size_t n,
                          struct pw_errbuf *err);

#endif
