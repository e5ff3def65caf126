/*
 * The relay works in rounds: peek a batch, publish it, flush, remove. The
 * flush before the remove is the whole point: removing first would lose an
 * event to a crash between the two. A round may be left pending (published,
 * not yet confirmed) while the caller does other work; it is confirmed
 * before anything else is read.
 */
#include "handlers/relay.h"

#include <stdlib.h>
#include <string.h>

#define PW_RELAY_DEFAULT_BATCH 512

enum pw_err pw_relay_init(struct pw_relay *relay, struct pw_outbox *outbox, struct pw_bus *bus,
                          size_t batch, int flush_timeout_ms)
{
    memset(relay, 0, sizeof *relay);
    relay->batch = batch ? batch : PW_RELAY_DEFAULT_BATCH;
    relay->outs = calloc(relay->batch, sizeof *relay->outs);
    relay->seqs = calloc(relay->batch, sizeof *relay->seqs);
    if (!relay->outs || !relay->seqs) {
        pw_relay_release(relay);
        return PW_E_NOMEM;
    }
    relay->outbox = outbox;
    relay->bus = bus;
    relay->flush_timeout_ms = flush_timeout_ms;
    return PW_OK;
}

/* Peeks and publishes one round without waiting; it is pending until confirmed. */
static enum pw_err relay_publish_round(struct pw_relay *relay, size_t *n, size_t *bytes,
                                       struct pw_errbuf *err)
{
    enum pw_err rc = pw_outbox_peek(relay->outbox, relay->outs, relay->seqs, relay->batch, n, err);
    if (rc || *n == 0)
        return rc;
    size_t events = 0;
    for (size_t i = 0; i < *n && !rc; i++) {
        *bytes += pw_out_bytes(&relay->outs[i]);
        events += relay->outs[i].kind == PW_OUT_EVENT;
        rc = pw_bus_publish(relay->bus, &relay->outs[i], err);
        relay->bus_failed = rc != PW_OK;
    }
    relay->pending_events = rc ? 0 : events;
    for (size_t i = 0; i < *n; i++)
        pw_out_release(&relay->outs[i]);
    /* A round that failed to publish whole stays in the outbox and is read again. */
    relay->pending = rc ? 0 : *n;
    relay->unconfirmed |= rc != PW_OK;
    return rc;
}

enum pw_err pw_relay_confirm(struct pw_relay *relay, size_t *confirmed, struct pw_errbuf *err)
{
    size_t n = relay->pending;
    *confirmed = 0;
    if (!n)
        return PW_OK;
    relay->pending = 0;
    enum pw_err rc = pw_bus_flush(relay->bus, relay->flush_timeout_ms, err);
    relay->bus_failed = rc != PW_OK;
    if (!rc)
        rc = pw_outbox_remove(relay->outbox, relay->seqs, n, err);
    if (!rc) {
        *confirmed = n;
        relay->events_acked += relay->pending_events;
    }
    relay->pending_events = 0;
    relay->unconfirmed |= rc != PW_OK;
    return rc;
}

enum pw_err pw_relay_send(struct pw_relay *relay, size_t *confirmed, bool *more,
                          struct pw_errbuf *err)
{
    size_t n = 0, bytes = 0;
    *more = false;
    relay->bus_failed = false;
    if (relay->unconfirmed) /* the last round failed: nothing before it is known acknowledged */
        return pw_relay_drain(relay, confirmed, err);
    enum pw_err rc = pw_relay_confirm(relay, confirmed, err);
    if (!rc)
        rc = relay_publish_round(relay, &n, &bytes, err);
    /* A full round, or one the byte cap ended: the outbox may hold more. */
    *more = !rc && (n == relay->batch || bytes >= PW_OUT_ROUND_BYTES);
    return rc;
}

/*
 * Everything committed before the call, and no more than needed: while
 * other workers keep committing, an outbox is never empty, and a drain
 * that waited for that would never end (nor would a stop). A round that
 * is not full took every committed row; after a full one it asks where the
 * outbox ends, and stops once a round reaches that far.
 */
enum pw_err pw_relay_drain(struct pw_relay *relay, size_t *published, struct pw_errbuf *err)
{
    size_t total = 0, n = 0, confirmed = 0;
    uint64_t end = 0;
    bool bounded = false;
    relay->bus_failed = false;
    enum pw_err rc = pw_relay_confirm(relay, &confirmed, err);
    total += confirmed;
    for (;;) {
        size_t bytes = 0;
        if (rc || (rc = relay_publish_round(relay, &n, &bytes, err)) || n == 0)
            break;
        uint64_t last = 0;
        for (size_t i = 0; i < n; i++)
            last = relay->seqs[i] > last ? relay->seqs[i] : last;
        rc = pw_relay_confirm(relay, &confirmed, err);
        total += confirmed;
        bool full = n == relay->batch || bytes >= PW_OUT_ROUND_BYTES;
        if (rc || !full)
            break; /* a round that was not full took every row committed before it */
        if (!bounded && !(rc = pw_outbox_high(relay->outbox, &end, err)))
            bounded = true;
        if (bounded && last >= end)
            break;
    }
    if (!rc)
        relay->unconfirmed = false;
    if (published)
        *published = total;
    return rc;
}

void pw_relay_release(struct pw_relay *relay)
{
    free(relay->outs);
    free(relay->seqs);
    memset(relay, 0, sizeof *relay);
}
