/*
 * Port: the read side of the transactional outbox, for the relay. The unit
 * of work writes events (pw_uow_outbox_put); the relay takes the committed
 * ones in commit order, publishes them, and removes them only once the bus
 * has acknowledged them, so that an event is published at least once after
 * its commit and never before.
 */
#ifndef PW_PORTS_OUTBOX_H
#define PW_PORTS_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "domain/err.h"
#include "domain/event.h"

struct pw_outbox_ops {
    const char *name;
    /*
     * Copies up to max of the oldest committed events into evs[] (the caller
     * releases each) and their positions into seqs[]; *n says how many. The
     * events stay in the outbox until removed. *n is 0 when it is empty, or
     * when another relay holds the outbox.
     */
    enum pw_err (*peek)(void *self, struct pw_event *evs, uint64_t *seqs, size_t max, size_t *n,
                        struct pw_errbuf *err);
    /* Removes the events at seqs[0..n) (published and acknowledged). */
    enum pw_err (*remove)(void *self, const uint64_t *seqs, size_t n, struct pw_errbuf *err);
    /* Frees the outbox handle (not the events stored in it). */
    void (*close)(void *self);
};

struct pw_outbox {
    const struct pw_outbox_ops *ops;
    void *self;
};

static inline enum pw_err pw_outbox_peek(struct pw_outbox *outbox, struct pw_event *evs,
                                         uint64_t *seqs, size_t max, size_t *n,
                                         struct pw_errbuf *err)
{
    return outbox->ops->peek(outbox->self, evs, seqs, max, n, err);
}

static inline enum pw_err pw_outbox_remove(struct pw_outbox *outbox, const uint64_t *seqs,
                                           size_t n, struct pw_errbuf *err)
{
    return outbox->ops->remove(outbox->self, seqs, n, err);
}

static inline void pw_outbox_close(struct pw_outbox *outbox)
{
    if (outbox->ops)
        outbox->ops->close(outbox->self);
}

#endif
