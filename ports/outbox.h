/*
 * Port: the read side of the transactional outbox, for the relay. The unit
 * of work writes rows (events and dead letters); the relay takes the
 * committed ones in commit order, publishes each to the topic it names, and
 * removes them only once the bus has acknowledged them, so that a row is
 * published at least once after its commit and never before.
 */
#ifndef PW_PORTS_OUTBOX_H
#define PW_PORTS_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "domain/err.h"
#include "ports/message.h"

struct pw_outbox_ops {
    const char *name;
    /*
     * Fills outs[0..*n) with copies of up to max of the oldest committed
     * rows (the caller releases each, pw_out_release) and seqs[] with their
     * positions. The rows stay in the outbox until removed. *n is 0 when it
     * is empty, or when another relay holds the outbox. It takes fewer than
     * max only when no more are committed, or when the rows taken hold
     * PW_OUT_ROUND_BYTES of payload (pw_out_bytes; at least one row is
     * taken). On failure *n is 0 and nothing needs releasing.
     */
    enum pw_err (*peek)(void *self, struct pw_out *outs, uint64_t *seqs, size_t max, size_t *n,
                        struct pw_errbuf *err);
    /*
     * *seq: the highest position among the rows committed so far (0 if
     * none). Every row committed before the call is at or below it, so a
     * relay that drains up to it is done even while others keep writing.
     */
    enum pw_err (*high)(void *self, uint64_t *seq, struct pw_errbuf *err);
    /*
     * How many rows wait (*pending), how many of them are dead letters
     * (*dead_letters), and the age of the oldest in milliseconds
     * (*oldest_ms, 0 when none), for the metrics; any reader may ask,
     * relay or not. It touches the store, so it doubles as a probe of it:
     * transient when the store cannot be reached.
     */
    enum pw_err (*stats)(void *self, int64_t *pending, int64_t *dead_letters, int64_t *oldest_ms,
                         struct pw_errbuf *err);
    /* Removes the rows at seqs[0..n) (published and acknowledged). */
    enum pw_err (*remove)(void *self, const uint64_t *seqs, size_t n, struct pw_errbuf *err);
    /* Frees the outbox handle (not the rows stored in it). */
    void (*close)(void *self);
};

struct pw_outbox {
    const struct pw_outbox_ops *ops;
    void *self;
};

static inline enum pw_err pw_outbox_peek(struct pw_outbox *outbox, struct pw_out *outs,
                                         uint64_t *seqs, size_t max, size_t *n,
                                         struct pw_errbuf *err)
{
    enum pw_err rc = PW_PORT_CHECK(err, outbox->ops->peek(outbox->self, outs, seqs, max, n, err));
    assert(*n <= max && (rc == PW_OK || *n == 0));
    return rc;
}

static inline enum pw_err pw_outbox_high(struct pw_outbox *outbox, uint64_t *seq,
                                         struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, outbox->ops->high(outbox->self, seq, err));
}

static inline enum pw_err pw_outbox_stats(struct pw_outbox *outbox, int64_t *pending,
                                          int64_t *dead_letters, int64_t *oldest_ms,
                                          struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err,
                         outbox->ops->stats(outbox->self, pending, dead_letters, oldest_ms, err));
}

static inline enum pw_err pw_outbox_remove(struct pw_outbox *outbox, const uint64_t *seqs,
                                           size_t n, struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, outbox->ops->remove(outbox->self, seqs, n, err));
}

static inline void pw_outbox_close(struct pw_outbox *outbox)
{
    if (outbox->ops)
        outbox->ops->close(outbox->self);
}

#endif
