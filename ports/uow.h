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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain/command.h"
#include "domain/err.h"
#include "domain/event.h"
#include "ports/message.h"
#include "ports/parking.h"
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
    /*
     * Optional (NULL: commit is used): commit without waiting for the end.
     * PW_OK means the transaction's last writes and its commit are on
     * their way; what became of them is told by the next settle (begin
     * settles first). A failure here is as commit's. A failure at settle
     * is PW_E_LOST_COMMITS: the transaction did not commit, or may not
     * have, and the caller reads its commands again from the offsets
     * stored with the data; an adapter commits with commit's own wait for
     * a while after that, so that a command whose writes the store
     * refuses is found the usual way (its batch run a part at a time).
     * Nothing is visible to other connections before it commits, the
     * relay included.
     */
    enum pw_err (*commit_send)(void *self, struct pw_errbuf *err);
    /* Optional: waits for a commit_send's outcome; PW_OK at once when none is on its way. */
    enum pw_err (*settle)(void *self, struct pw_errbuf *err);
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
    /*
     * Inbox: records (source, id) as processed with its outcome, for
     * post_id (borrowed), and the version it made when applied (else 0),
     * so that a reader can ask what became of it (ports/query.h).
     */
    enum pw_err (*inbox_put)(void *self, const char *source, const char *id, enum pw_err outcome,
                             const char *post_id, int64_t version, struct pw_errbuf *err);
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
     * never moves backwards: putting a lower one keeps the higher. It is
     * read back through the store port (ports/store.h).
     */
    enum pw_err (*offset_put)(void *self, const char *group, const char *topic,
                              int32_t partition, int64_t offset, struct pw_errbuf *err);
    /*
     * Parking (ports/parking.h). parked_get: post_id's parking as this
     * transaction sees it, into *p (its value, if any, borrowed until the
     * transaction ends); *found false when it is not parked.
     */
    enum pw_err (*parked_get)(void *self, const char *post_id, struct pw_parked *p, bool *found,
                              struct pw_errbuf *err);
    /*
     * Parks p->post_id behind the command p describes (source and id, or
     * when undecoded its value, borrowed for the call; code; where it came
     * from): not draining. A post already parked keeps its held commands
     * and waits on this command now.
     */
    enum pw_err (*park)(void *self, const struct pw_parked *p, struct pw_errbuf *err);
    /*
     * post_id's failed command was applied or rejected: the post drains
     * (its held commands run next), or with none held is no longer parked.
     */
    enum pw_err (*unpark)(void *self, const char *post_id, struct pw_errbuf *err);
    /*
     * Holds the command (source, id) of message o (borrowed for the call;
     * the store copies it) behind post_id, last in its queue, with the
     * deaths its runs alone had before (kept, and given back by the store's
     * held_next, so that the breaker counts on from there). The post
     * must be parked when this commits: if it no longer is (another
     * transaction drained it meanwhile), the commit fails transiently and
     * the batch runs again.
     */
    enum pw_err (*hold)(void *self, const char *post_id, const char *source, const char *id,
                        const struct pw_origin *o, unsigned deaths, struct pw_errbuf *err);
    /* Whether (source, id) is held: *found. */
    enum pw_err (*held_get)(void *self, const char *source, const char *id, bool *found,
                            struct pw_errbuf *err);
    /*
     * The held command seq ran (applied, rejected or set aside): it leaves
     * its post's queue, and a draining post with none left is no longer
     * parked. Transient if seq is not held (another transaction ran it).
     */
    enum pw_err (*held_done)(void *self, uint64_t seq, struct pw_errbuf *err);
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

static inline enum pw_err pw_uow_commit_send(struct pw_uow *uow, struct pw_errbuf *err)
{
    if (!uow->ops->commit_send)
        return pw_uow_commit(uow, err);
    return PW_PORT_CHECK(err, uow->ops->commit_send(uow->self, err));
}

static inline enum pw_err pw_uow_settle(struct pw_uow *uow, struct pw_errbuf *err)
{
    if (!uow->ops->settle)
        return PW_OK;
    return PW_PORT_CHECK(err, uow->ops->settle(uow->self, err));
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
                                           enum pw_err outcome, const char *post_id,
                                           int64_t version, struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err,
                         uow->ops->inbox_put(uow->self, source, id, outcome, post_id, version, err));
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

static inline enum pw_err pw_uow_parked_get(struct pw_uow *uow, const char *post_id,
                                            struct pw_parked *p, bool *found,
                                            struct pw_errbuf *err)
{
    *found = false;
    return PW_PORT_CHECK(err, uow->ops->parked_get(uow->self, post_id, p, found, err));
}

static inline enum pw_err pw_uow_park(struct pw_uow *uow, const struct pw_parked *p,
                                      struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, uow->ops->park(uow->self, p, err));
}

static inline enum pw_err pw_uow_unpark(struct pw_uow *uow, const char *post_id,
                                        struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, uow->ops->unpark(uow->self, post_id, err));
}

static inline enum pw_err pw_uow_hold(struct pw_uow *uow, const char *post_id, const char *source,
                                      const char *id, const struct pw_origin *o, unsigned deaths,
                                      struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, uow->ops->hold(uow->self, post_id, source, id, o, deaths, err));
}

static inline enum pw_err pw_uow_held_get(struct pw_uow *uow, const char *source, const char *id,
                                          bool *found, struct pw_errbuf *err)
{
    *found = false;
    return PW_PORT_CHECK(err, uow->ops->held_get(uow->self, source, id, found, err));
}

static inline enum pw_err pw_uow_held_done(struct pw_uow *uow, uint64_t seq,
                                           struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, uow->ops->held_done(uow->self, seq, err));
}

static inline bool pw_uow_has_prefetch(const struct pw_uow *uow)
{
    return uow->ops->prefetch != NULL;
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
