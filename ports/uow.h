/*
 * Port: the unit of work. One transaction that holds a batch of commands'
 * state changes, their events (the outbox) and their processed marks (the
 * inbox), so that they become durable together or not at all: the
 * transactional inbox and outbox of the contract.
 *
 * Life cycle: begin, then any number of repository, inbox, outbox and offset
 * calls, then commit or rollback. After any failure inside a transaction the
 * caller rolls back and may retry the whole batch; nothing partial is kept.
 *
 * The outbox takes two kinds of row, events and dead letters, each for the
 * topic it names; the relay publishes them in commit order (within one
 * transaction, its events first, then its dead letters, each in the order
 * recorded). Every adapter takes any number of rows, marks and partitions
 * in one transaction: limits of its own are bugs, not contract.
 */
#ifndef PW_PORTS_UOW_H
#define PW_PORTS_UOW_H

#include <stddef.h>
#include <stdint.h>

#include "domain/command.h"
#include "domain/err.h"
#include "domain/event.h"
#include "ports/message.h"
#include "ports/repo.h"

/*
 * Where a run of messages starts in one partition, and how many runs have
 * started there: the count that lets the application give up on a message
 * that kills the process, however often it is restarted.
 */
struct pw_attempt {
    const char *group; /* borrowed, like topic */
    const char *topic;
    int32_t partition;
    int64_t offset;
    unsigned tries;
};

struct pw_uow_ops {
    const char *name;
    /* Starts a transaction. Transient if the store cannot be reached. */
    enum pw_err (*begin)(void *self, struct pw_errbuf *err);
    /*
     * Makes the transaction durable. On failure nothing of it is kept (the
     * transaction is over either way) and the caller may redo the batch.
     */
    enum pw_err (*commit)(void *self, struct pw_errbuf *err);
    /* Discards the transaction; does nothing if none is open. */
    void (*rollback)(void *self);
    /* The posts as this transaction sees them; the repository lives as long as the uow. */
    struct pw_repo (*posts)(void *self);
    /*
     * Inbox: sets *outcome to the outcome recorded for (source, id), PW_OK
     * for applied, or the rejection code; *found says whether there is one.
     */
    enum pw_err (*inbox_get)(void *self, const char *source, const char *id, bool *found,
                             enum pw_err *outcome, struct pw_errbuf *err);
    /* Inbox: records (source, id) as processed with its outcome. */
    enum pw_err (*inbox_put)(void *self, const char *source, const char *id, enum pw_err outcome,
                             struct pw_errbuf *err);
    /*
     * Outbox: records ev for publication to topic after commit. On PW_OK
     * the unit of work owns ev's post (ev is zeroed); on failure ev is still
     * the caller's. topic is copied.
     */
    enum pw_err (*outbox_put)(void *self, const char *topic, struct pw_event *ev,
                              struct pw_errbuf *err);
    /*
     * Outbox: records a dead letter for publication to topic after commit;
     * dl and its origin's bytes are borrowed for the call (the unit of work
     * copies them).
     */
    enum pw_err (*dead_letter_put)(void *self, const char *topic, const struct pw_dead_letter *dl,
                                   struct pw_errbuf *err);
    /*
     * Consumer position: the next offset to read of topic/partition for
     * consumer group, stored with the changes it covers. A stored offset
     * never moves backwards: putting a lower one keeps the higher.
     * offset_get is a query of the store, not of the transaction: it needs
     * none open, runs on the unit of work's own connection, and sets
     * *offset to -1 when nothing is stored.
     */
    enum pw_err (*offset_put)(void *self, const char *group, const char *topic,
                              int32_t partition, int64_t offset, struct pw_errbuf *err);
    enum pw_err (*offset_get)(void *self, const char *group, const char *topic,
                              int32_t partition, int64_t *offset, struct pw_errbuf *err);
    /*
     * Attempts: records that a run starts at each of a[0..n) (at most one
     * per group, topic and partition; the store keeps one position for
     * each, a new offset replacing the old). Where the store holds the same
     * offset, a[i].tries becomes the stored count plus one; elsewhere the
     * count starts at a[i].tries as given (1, or more when the caller knows
     * of earlier runs). Either way a[i].tries ends as what is stored. Like
     * offset_get it runs outside any transaction, with none open; what it
     * stores outlives the caller's process dying the next instant (a crash
     * of the store itself may lose the last counts, which allows one more
     * try, never one less). On failure nothing is counted.
     */
    enum pw_err (*attempts_start)(void *self, struct pw_attempt *a, size_t n,
                                  struct pw_errbuf *err);
    /*
     * Optional: a hint, right after begin, that these commands will be run
     * in this transaction (cmds[0..n), borrowed for the call), so that an
     * adapter can load their posts and inbox marks in one round trip. NULL
     * if the adapter has no use for it.
     */
    enum pw_err (*prefetch)(void *self, const struct pw_cmd *const *cmds, size_t n,
                            struct pw_errbuf *err);
    /* Frees the unit of work, rolling back an open transaction. */
    void (*close)(void *self);
};

struct pw_uow {
    const struct pw_uow_ops *ops;
    void *self;
};

static inline enum pw_err pw_uow_begin(struct pw_uow *uow, struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, uow->ops->begin(uow->self, err));
}

static inline enum pw_err pw_uow_commit(struct pw_uow *uow, struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, uow->ops->commit(uow->self, err));
}

static inline void pw_uow_rollback(struct pw_uow *uow)
{
    uow->ops->rollback(uow->self);
}

static inline struct pw_repo pw_uow_posts(struct pw_uow *uow)
{
    return uow->ops->posts(uow->self);
}

static inline enum pw_err pw_uow_inbox_get(struct pw_uow *uow, const char *source, const char *id,
                                           bool *found, enum pw_err *outcome,
                                           struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, uow->ops->inbox_get(uow->self, source, id, found, outcome, err));
}

static inline enum pw_err pw_uow_inbox_put(struct pw_uow *uow, const char *source, const char *id,
                                           enum pw_err outcome, struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, uow->ops->inbox_put(uow->self, source, id, outcome, err));
}

static inline enum pw_err pw_uow_outbox_put(struct pw_uow *uow, const char *topic,
                                            struct pw_event *ev, struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, uow->ops->outbox_put(uow->self, topic, ev, err));
}

static inline enum pw_err pw_uow_dead_letter_put(struct pw_uow *uow, const char *topic,
                                                 const struct pw_dead_letter *dl,
                                                 struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, uow->ops->dead_letter_put(uow->self, topic, dl, err));
}

static inline enum pw_err pw_uow_offset_put(struct pw_uow *uow, const char *group,
                                            const char *topic, int32_t partition, int64_t offset,
                                            struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, uow->ops->offset_put(uow->self, group, topic, partition, offset, err));
}

static inline enum pw_err pw_uow_offset_get(struct pw_uow *uow, const char *group,
                                            const char *topic, int32_t partition,
                                            int64_t *offset, struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, uow->ops->offset_get(uow->self, group, topic, partition, offset, err));
}

static inline enum pw_err pw_uow_attempts_start(struct pw_uow *uow, struct pw_attempt *a,
                                                size_t n, struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, uow->ops->attempts_start(uow->self, a, n, err));
}

static inline enum pw_err pw_uow_prefetch(struct pw_uow *uow, const struct pw_cmd *const *cmds,
                                          size_t n, struct pw_errbuf *err)
{
    return uow->ops->prefetch ? PW_PORT_CHECK(err, uow->ops->prefetch(uow->self, cmds, n, err))
                              : PW_OK;
}

static inline void pw_uow_close(struct pw_uow *uow)
{
    if (uow->ops)
        uow->ops->close(uow->self);
}

#endif
