/*
 * Port: the unit of work. One transaction that holds a batch of commands'
 * state changes, their events (the outbox) and their processed marks (the
 * inbox), so that they become durable together or not at all: the
 * transactional inbox and outbox of the contract.
 *
 * Life cycle: begin, then any number of repository, inbox, outbox and offset
 * calls, then commit or rollback. After any failure inside a transaction the
 * caller rolls back and may retry the whole batch; nothing partial is kept.
 */
#ifndef PW_PORTS_UOW_H
#define PW_PORTS_UOW_H

#include <stddef.h>
#include <stdint.h>

#include "domain/command.h"
#include "domain/err.h"
#include "domain/event.h"
#include "ports/repo.h"

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
    /* Outbox: records ev (still the caller's) for publication after commit. */
    enum pw_err (*outbox_put)(void *self, const struct pw_event *ev, struct pw_errbuf *err);
    /*
     * Consumer position: the next offset to read of topic/partition, stored
     * with the changes it covers. offset_get needs no open transaction and
     * sets *offset to -1 when nothing is stored.
     */
    enum pw_err (*offset_put)(void *self, const char *topic, int32_t partition, int64_t offset,
                              struct pw_errbuf *err);
    enum pw_err (*offset_get)(void *self, const char *topic, int32_t partition, int64_t *offset,
                              struct pw_errbuf *err);
    /*
     * Optional: a hint, right after begin, that these commands will be run
     * in this transaction, so that an adapter can load their posts and inbox
     * marks in one round trip. NULL if the adapter has no use for it.
     */
    enum pw_err (*prefetch)(void *self, const struct pw_cmd *cmds, size_t n, struct pw_errbuf *err);
    /* Frees the unit of work, rolling back an open transaction. */
    void (*close)(void *self);
};

struct pw_uow {
    const struct pw_uow_ops *ops;
    void *self;
};

static inline enum pw_err pw_uow_begin(struct pw_uow *uow, struct pw_errbuf *err)
{
    return uow->ops->begin(uow->self, err);
}

static inline enum pw_err pw_uow_commit(struct pw_uow *uow, struct pw_errbuf *err)
{
    return uow->ops->commit(uow->self, err);
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
    return uow->ops->inbox_get(uow->self, source, id, found, outcome, err);
}

static inline enum pw_err pw_uow_inbox_put(struct pw_uow *uow, const char *source, const char *id,
                                           enum pw_err outcome, struct pw_errbuf *err)
{
    return uow->ops->inbox_put(uow->self, source, id, outcome, err);
}

static inline enum pw_err pw_uow_outbox_put(struct pw_uow *uow, const struct pw_event *ev,
                                            struct pw_errbuf *err)
{
    return uow->ops->outbox_put(uow->self, ev, err);
}

static inline enum pw_err pw_uow_offset_put(struct pw_uow *uow, const char *topic,
                                            int32_t partition, int64_t offset,
                                            struct pw_errbuf *err)
{
    return uow->ops->offset_put(uow->self, topic, partition, offset, err);
}

static inline enum pw_err pw_uow_offset_get(struct pw_uow *uow, const char *topic,
                                            int32_t partition, int64_t *offset,
                                            struct pw_errbuf *err)
{
    return uow->ops->offset_get(uow->self, topic, partition, offset, err);
}

static inline enum pw_err pw_uow_prefetch(struct pw_uow *uow, const struct pw_cmd *cmds, size_t n,
                                          struct pw_errbuf *err)
{
    return uow->ops->prefetch ? uow->ops->prefetch(uow->self, cmds, n, err) : PW_OK;
}

static inline void pw_uow_close(struct pw_uow *uow)
{
    if (uow->ops)
        uow->ops->close(uow->self);
}

#endif
