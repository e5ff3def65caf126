/*
 * Port: the read side. What readers ask of the store, outside any unit of
 * work: a post, a page of posts in keyset order, what became of a command,
 * and the parked posts. Each answer is what one committed state of the
 * store says (a replica's may be behind the primary's).
 *
 * Unlike the write ports, a query handle is used by many threads at once
 * (the HTTP listener's): the adapter keeps what it needs per call (a pool
 * of connections, a lock) and every op is safe to call concurrently.
 * Failures are returned, never half an answer: PW_E_TRANSIENT when the
 * store cannot be reached (try again), PW_E_NOMEM, PW_E_FATAL.
 */
#ifndef PW_PORTS_QUERY_H
#define PW_PORTS_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain/err.h"
#include "domain/post.h"
#include "ports/parking.h"

/* The most a page may hold. */
#define PW_QUERY_PAGE_MAX 500

enum pw_deleted_filter {
    PW_DELETED_EXCLUDE, /* live posts only */
    PW_DELETED_INCLUDE, /* both */
    PW_DELETED_ONLY,    /* deleted posts only */
};

/*
 * A page of posts: those matching author (NULL: every author) and deleted,
 * whose (created_at, post_id) comes after (after_created, after_id) when
 * after is set, oldest created_at first, ties by post_id (byte order).
 */
struct pw_posts_filter {
    const char *author;
    enum pw_deleted_filter deleted;
    bool after;
    pw_time after_created;
    char after_id[PW_POST_ID_MAX + 1];
};

/* What became of a command, known by its (source, id). */
enum pw_cmd_state {
    PW_Q_UNKNOWN,   /* not seen, or not yet committed where this store reads */
    PW_Q_APPLIED,   /* applied: post_id and version say what it made */
    PW_Q_DUPLICATE, /* processed for another post (post_id) than the one asked about */
    PW_Q_REJECTED,  /* refused by a rule: code */
    PW_Q_FAILED,    /* could not be applied (code); its post is parked, or was given up */
    PW_Q_HELD,      /* waits behind its post's failed command */
};

struct pw_command_status {
    enum pw_cmd_state outcome;
    enum pw_err code;                 /* rejected and failed; PW_OK otherwise */
    char post_id[PW_POST_ID_MAX + 1]; /* "" when not known */
    int64_t version;                  /* applied: the version it made; 0 otherwise */
};

/* "unknown", "applied", ... as the HTTP answer spells them. */
const char *pw_cmd_state_name(enum pw_cmd_state s);

/* The most posts_get takes at once. */
#define PW_QUERY_BATCH_MAX 128

struct pw_query_ops {
    const char *name;
    /*
     * True when posts_get of many costs about what one post_get does (one
     * round trip to a server): a caller with many readers waiting then
     * gathers their lookups into one call.
     */
    bool batches;
    /*
     * The post post_id, deleted or not, into *out (the caller releases it
     * with pw_post_release); *found false, and *out zeroed, when there is
     * no such post.
     */
    enum pw_err (*post_get)(void *self, const char *post_id, struct pw_post *out, bool *found,
                            struct pw_errbuf *err);
    /*
     * The posts ids[0..n) (n at most PW_QUERY_BATCH_MAX), each into out[i]
     * and found[i] as post_get does; ids may repeat. On failure nothing is
     * left to release.
     */
    enum pw_err (*posts_get)(void *self, const char *const *ids, size_t n, struct pw_post *out,
                             bool *found, struct pw_errbuf *err);
    /*
     * Up to max (1..PW_QUERY_PAGE_MAX) posts matching f, in order, into
     * out[0..*n) (the caller releases each); *more says whether another
     * matches after the last. On failure nothing is left to release.
     */
    enum pw_err (*posts_list)(void *self, const struct pw_posts_filter *f, struct pw_post *out,
                              size_t max, size_t *n, bool *more, struct pw_errbuf *err);
    /*
     * What became of (source, id), as the store has it recorded (never
     * PW_Q_DUPLICATE: pw_query_command_get decides that).
     */
    enum pw_err (*command_get)(void *self, const char *source, const char *id,
                               struct pw_command_status *st, struct pw_errbuf *err);
    /* As the store port's parked_list (ports/store.h). */
    enum pw_err (*parked_list)(void *self, const char *after, struct pw_parked *out, size_t max,
                               size_t *n, struct pw_errbuf *err);
    /*
     * Waits, at most timeout_ms, for the store to commit something after
     * *seen, a count this op keeps (0 to start: returns at once), and sets
     * *seen to where the count is now. It may return early (a spurious
     * wake, or a store that can only be polled, such as a read replica): a
     * caller asks again and waits again. Never fails.
     */
    void (*changes_wait)(void *self, uint64_t *seen, int timeout_ms);
    void (*close)(void *self);
};

struct pw_query {
    const struct pw_query_ops *ops;
    void *self;
};

static inline enum pw_err pw_query_post_get(struct pw_query *q, const char *post_id,
                                            struct pw_post *out, bool *found,
                                            struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, q->ops->post_get(q->self, post_id, out, found, err));
}

static inline enum pw_err pw_query_posts_get(struct pw_query *q, const char *const *ids,
                                             size_t n, struct pw_post *out, bool *found,
                                             struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, q->ops->posts_get(q->self, ids, n, out, found, err));
}

static inline enum pw_err pw_query_posts_list(struct pw_query *q, const struct pw_posts_filter *f,
                                              struct pw_post *out, size_t max, size_t *n,
                                              bool *more, struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, q->ops->posts_list(q->self, f, out, max, n, more, err));
}

/* The state of a command its processed mark says: applied, rejected or failed, by code. */
void pw_command_status_mark(struct pw_command_status *st, enum pw_err code);

/*
 * What became of (source, id). post_id (may be NULL or "") is the post the
 * asker meant: a command processed for another is a duplicate, answered
 * with the post it was processed for.
 */
enum pw_err pw_query_command_get(struct pw_query *q, const char *source, const char *id,
                                 const char *post_id, struct pw_command_status *st,
                                 struct pw_errbuf *err);

static inline enum pw_err pw_query_parked_list(struct pw_query *q, const char *after,
                                               struct pw_parked *out, size_t max, size_t *n,
                                               struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, q->ops->parked_list(q->self, after, out, max, n, err));
}

static inline void pw_query_changes_wait(struct pw_query *q, uint64_t *seen, int timeout_ms)
{
    q->ops->changes_wait(q->self, seen, timeout_ms);
}

/* Closes q; a zeroed q is fine. */
static inline void pw_query_close(struct pw_query *q)
{
    if (q->ops)
        q->ops->close(q->self);
    q->ops = NULL;
    q->self = NULL;
}

#endif
