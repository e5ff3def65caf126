/*
 * Port: the store, outside any transaction. What the worker asks of the
 * data that is not a unit of work (ports/uow.h): where a partition's
 * stored position is, the count of runs that lets it give up on a message
 * that kills the process, and the parked posts. Like git's ref store beside
 * its ref transactions: a unit of work is only a transaction, and these are
 * queries and counters, each durable on its own the moment it returns.
 *
 * A store handle is used by one thread at a time; open one per thread.
 */
#ifndef PW_PORTS_STORE_H
#define PW_PORTS_STORE_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain/err.h"
#include "ports/parking.h"

/*
 * A run of messages about to start, as one partition sees it: where it
 * starts there, and whether it is one message alone. The store keeps one
 * row per (group, topic, partition): the offset and token of the last run
 * started there, whether that run was alone, and the deaths counted at
 * that offset.
 *
 * A run that starts where the last one did, when the last one's token is
 * not `ended` (and the last one was not ended by runs_end), follows a run
 * whose process died: `died`. Only when that run
 * was one message alone is the death counted against the message
 * (`deaths`): a death in a run of many only says where to look.
 */
struct pw_run_start {
    const char *group; /* borrowed for the call, like topic */
    const char *topic;
    int32_t partition;
    int64_t offset;    /* the run's first offset in the partition */
    bool alone;        /* the run is this one message and nothing else */
    uint64_t token;    /* this run's, never 0, unique to it */
    uint64_t ended;    /* the caller's own last run here, known to have ended alive; 0 none */
    bool died;         /* out: the last run from this offset started and its process died */
    unsigned deaths;   /* out: deaths counted at this offset, this one included */
    /*
     * out: the partition's stored offset when the run starts below it (it
     * reruns what another worker already finished: not recorded); else -1.
     */
    int64_t stored;
};

/* What the metrics show of parking. */
struct pw_parking_stats {
    int64_t posts;     /* parked posts */
    int64_t held;      /* commands held behind them */
    int64_t oldest_ms; /* how long the longest-parked post has been parked, 0 when none is */
};

struct pw_store_ops {
    const char *name;
    /*
     * The next offset to read of topic/partition for group, as the last
     * committed transaction stored it; *offset -1 when none is stored.
     */
    enum pw_err (*offset_get)(void *self, const char *group, const char *topic,
                              int32_t partition, int64_t *offset, struct pw_errbuf *err);
    /*
     * Records that a run starts at each of r[0..n) (at most one per group,
     * topic and partition) and fills each one's died and deaths, as struct
     * pw_run_start says. A run below its partition's stored offset reruns
     * what is done (a worker that lost the partition while paused): it is
     * not recorded, counts as neither dead nor dying, and says where the
     * partition stands (stored). Durable when it returns: a death of the caller the
     * next instant is seen by whoever starts there next (a crash of the
     * store itself may lose the last record, which allows one more try,
     * never one less). On failure nothing is recorded.
     */
    enum pw_err (*runs_start)(void *self, struct pw_run_start *r, size_t n,
                              struct pw_errbuf *err);
    /*
     * Records that the runs r[0..n) (by token) ended with their process
     * alive, which then stops cleanly: whoever starts next where one of
     * them was the last run counts no death for it. A run that is no longer
     * the last at its place is left alone. On failure nothing is recorded
     * (the next start then counts a death: one try less).
     */
    enum pw_err (*runs_end)(void *self, const struct pw_run_start *r, size_t n,
                            struct pw_errbuf *err);
    /*
     * Fills h with a copy (the caller releases it) of the command to run
     * next among the held commands of draining posts: the one held
     * longest, but first the one whose run was the last one started at
     * the held commands' place (runs_start), which did not finish since it
     * is still held. So it is the same one until it is done with
     * (pw_uow_held_done), even when an older one's post starts draining
     * meanwhile, and a command which kills the process is run again
     * first, its deaths counted. One store handle drains at a time, the first to ask, until
     * it is closed (or its process dies): for the others *found is false,
     * so that no two live processes run one held command at once. *found
     * false when none waits.
     */
    enum pw_err (*held_next)(void *self, struct pw_held *h, bool *found, struct pw_errbuf *err);
    /*
     * Up to max parked posts with post_id after `after` ("" from the
     * first), in post_id order, into out[0..*n); value is never set.
     */
    enum pw_err (*parked_list)(void *self, const char *after, struct pw_parked *out, size_t max,
                               size_t *n, struct pw_errbuf *err);
    enum pw_err (*parking_stats)(void *self, struct pw_parking_stats *st, struct pw_errbuf *err);
    /*
     * Gives up on post_id's failed command: it is marked processed with
     * its failure's code, when it was decoded (so that sending it again is a
     * duplicate), and the post drains (its held commands run next; with
     * none, it is no longer parked). *p is what it was parked behind (value
     * never set); *found false, and nothing done, when it is not parked or
     * already drains. dry_run: only fills *p and *found.
     */
    enum pw_err (*release)(void *self, const char *post_id, bool dry_run, struct pw_parked *p,
                           bool *found, struct pw_errbuf *err);
    /*
     * *empty: no command was ever recorded processed and no offset stored
     * (a new database, a rebuild, the in-memory store at start).
     */
    enum pw_err (*holds_nothing)(void *self, bool *empty, struct pw_errbuf *err);
    /*
     * Forgets up to max processed marks (ports/uow.h, inbox_put) recorded
     * more than older_ms milliseconds ago by the store's clock, oldest
     * first; *pruned says how many. A command whose mark is gone is applied
     * again if it arrives again: the caller picks older_ms so that it can no
     * longer be read (POSTWORKER_INBOX_RETENTION). On failure *pruned is 0
     * and nothing was forgotten.
     */
    enum pw_err (*prune_inbox)(void *self, int64_t older_ms, size_t max, size_t *pruned,
                               struct pw_errbuf *err);
    void (*close)(void *self);
};

struct pw_store {
    const struct pw_store_ops *ops;
    void *self;
};

static inline enum pw_err pw_store_offset_get(struct pw_store *st, const char *group,
                                              const char *topic, int32_t partition,
                                              int64_t *offset, struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, st->ops->offset_get(st->self, group, topic, partition, offset, err));
}

static inline enum pw_err pw_store_holds_nothing(struct pw_store *st, bool *empty,
                                                struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, st->ops->holds_nothing(st->self, empty, err));
}

static inline enum pw_err pw_store_runs_start(struct pw_store *st, struct pw_run_start *r,
                                              size_t n, struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, st->ops->runs_start(st->self, r, n, err));
}

static inline enum pw_err pw_store_runs_end(struct pw_store *st, const struct pw_run_start *r,
                                            size_t n, struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, st->ops->runs_end(st->self, r, n, err));
}

static inline enum pw_err pw_store_held_next(struct pw_store *st, struct pw_held *h, bool *found,
                                             struct pw_errbuf *err)
{
    *found = false;
    return PW_PORT_CHECK(err, st->ops->held_next(st->self, h, found, err));
}

static inline enum pw_err pw_store_parked_list(struct pw_store *st, const char *after,
                                               struct pw_parked *out, size_t max, size_t *n,
                                               struct pw_errbuf *err)
{
    *n = 0;
    enum pw_err rc = PW_PORT_CHECK(err, st->ops->parked_list(st->self, after, out, max, n, err));
    assert(*n <= max && (rc == PW_OK || *n == 0));
    return rc;
}

static inline enum pw_err pw_store_parking_stats(struct pw_store *st,
                                                 struct pw_parking_stats *stats,
                                                 struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, st->ops->parking_stats(st->self, stats, err));
}

static inline enum pw_err pw_store_release(struct pw_store *st, const char *post_id, bool dry_run,
                                           struct pw_parked *p, bool *found,
                                           struct pw_errbuf *err)
{
    *found = false;
    return PW_PORT_CHECK(err, st->ops->release(st->self, post_id, dry_run, p, found, err));
}

static inline enum pw_err pw_store_prune_inbox(struct pw_store *st, int64_t older_ms, size_t max,
                                               size_t *pruned, struct pw_errbuf *err)
{
    *pruned = 0;
    enum pw_err rc = PW_PORT_CHECK(err, st->ops->prune_inbox(st->self, older_ms, max, pruned, err));
    assert(*pruned <= max && (rc == PW_OK || *pruned == 0));
    return rc;
}

static inline void pw_store_close(struct pw_store *st)
{
    if (st->ops)
        st->ops->close(st->self);
}

#endif
