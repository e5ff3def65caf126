/*
 * Port: the source of commands, a partitioned log read by a group of
 * workers (Kafka, or the simulator's log). The worker loop
 * (handlers/loop.c) drives it: fetch a batch, run it, and once its rows
 * are published, commit its offsets; assignment changes reach the loop
 * through a listener, from inside fetch, as Kafka's rebalance listener
 * does.
 *
 * Ordering: within a partition, messages come in offset order, each once
 * per assignment, from where the listener said to start. Across a
 * revocation and a new assignment, messages after the last committed (or
 * stored) offset come again: the worker's inbox makes that harmless.
 *
 * One thread uses a source; the listener runs on it.
 */
#ifndef PW_PORTS_SOURCE_H
#define PW_PORTS_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain/err.h"
#include "ports/service.h"

/* A partition of the source, as an assignment change names it. */
struct pw_partition {
    const char *topic; /* borrowed for the call */
    int32_t partition;
    /*
     * On assignment, where to start reading: the listener sets it. -1
     * leaves it to the source: the group's committed offset, else the
     * earliest.
     */
    int64_t start;
};

struct pw_source_listener {
    void *ctx;
    /* parts[0..n) are now this worker's: set each one's start. */
    void (*assigned)(void *ctx, struct pw_partition *parts, size_t n);
    /*
     * parts[0..n) are no longer this worker's. Messages of them fetched
     * but not yet returned are dropped, to be read again by their next
     * owner. lost: another worker may own them already, and commits for
     * them fail; otherwise the listener may still commit them here, the
     * last chance to.
     */
    void (*revoked)(void *ctx, const struct pw_partition *parts, size_t n, bool lost);
};

/* What one fetch returned. */
struct pw_fetched {
    struct pw_input *in; /* n inputs, not decoded yet, owned by the source until release */
    size_t n;
    bool end;            /* a source with an end (a replay) has returned everything */
};

struct pw_source_ops {
    const char *name;
    /* Sets the listener (copied) that assignment changes are told to; before the first fetch. */
    void (*listen)(void *self, const struct pw_source_listener *l);
    /*
     * Returns up to max messages in f: waits a moment (at most about 100
     * ms) for the first, then at most linger_ms for more. f->n 0 when
     * none came. The listener may be called meanwhile. The inputs stay
     * valid until release, which must come before the next fetch. Any
     * error is fatal: a source waits out a broker that is down itself
     * (saying so through the metrics), never failing a fetch for it.
     */
    enum pw_err (*fetch)(void *self, size_t max, int linger_ms, struct pw_fetched *f,
                         struct pw_errbuf *err);
    /* Drops the last fetch's messages, and the commands decoded from them. */
    void (*release)(void *self);
    /* The codec for the inputs this source returns (ports/service.h). */
    pw_decode_fn decode;
    /*
     * Commits offs[0..n) (each the next offset to read) for the group: a
     * restart reads from there. A failure (the partition is not ours any
     * more, the broker is down) changes nothing, and it is harmless:
     * the offsets are stored with the data too.
     */
    enum pw_err (*commit)(void *self, const struct pw_offset *offs, size_t n,
                          struct pw_errbuf *err);
    /* Measures what only the source knows (its lag) into the metrics it was opened with. */
    void (*probe)(void *self);
    /* Leaves the group (revoking through the listener) and frees the source. */
    void (*close)(void *self);
};

struct pw_source {
    const struct pw_source_ops *ops;
    void *self;
};

static inline void pw_source_listen(struct pw_source *s, const struct pw_source_listener *l)
{
    s->ops->listen(s->self, l);
}

static inline enum pw_err pw_source_fetch(struct pw_source *s, size_t max, int linger_ms,
                                          struct pw_fetched *f, struct pw_errbuf *err)
{
    *f = (struct pw_fetched){0};
    enum pw_err rc = PW_PORT_CHECK(err, s->ops->fetch(s->self, max, linger_ms, f, err));
    assert(f->n <= max && (rc == PW_OK || f->n == 0));
    return rc;
}

static inline void pw_source_release(struct pw_source *s)
{
    s->ops->release(s->self);
}

static inline enum pw_err pw_source_commit(struct pw_source *s, const struct pw_offset *offs,
                                           size_t n, struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, s->ops->commit(s->self, offs, n, err));
}

static inline void pw_source_probe(struct pw_source *s)
{
    s->ops->probe(s->self);
}

static inline void pw_source_close(struct pw_source *s)
{
    if (s->ops)
        s->ops->close(s->self);
}

#endif
