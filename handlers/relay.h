/*
 * The outbox relay: moves committed rows (events and dead letters) from the
 * outbox to the message bus, oldest first, each to the topic it names, and
 * removes them only after the bus acknowledged them. A row therefore
 * reaches the bus at least once after its commit and never before it,
 * whatever fails in between.
 */
#ifndef PW_HANDLERS_RELAY_H
#define PW_HANDLERS_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ports/bus.h"
#include "ports/outbox.h"

struct pw_relay {
    struct pw_outbox *outbox; /* borrowed */
    struct pw_bus *bus;       /* borrowed */
    size_t batch;             /* rows per peek/flush round */
    int flush_timeout_ms;
    struct pw_out *outs;      /* batch slots, owned */
    uint64_t *seqs;
    size_t pending;           /* seqs[0..pending) are published, not yet confirmed */
    bool unconfirmed;         /* a round failed: rows before it may be unacknowledged */
    size_t pending_events;    /* how many of the pending round are events */
    uint64_t events_acked;    /* events acknowledged and removed, in all */
    bool bus_failed;          /* the last call failed at the bus (the broker), not the outbox */
};

/* Sets up relay on the two ports; batch 0 picks a default. PW_E_NOMEM on failure. */
enum pw_err pw_relay_init(struct pw_relay *relay, struct pw_outbox *outbox, struct pw_bus *bus,
                          size_t batch, int flush_timeout_ms);

/*
 * Publishes until the outbox is empty; *published (may be NULL) counts the
 * rows acknowledged and removed. On failure the rows of the round in
 * hand stay in the outbox and are published again by the next call.
 */
enum pw_err pw_relay_drain(struct pw_relay *relay, size_t *published, struct pw_errbuf *err);

/*
 * The same work in two halves, so that the wait for the bus's
 * acknowledgement can overlap other work (the next batch's dispatch).
 * pw_relay_send confirms the round still pending, then publishes one more
 * round without waiting: *confirmed counts the rows of the earlier round
 * now acknowledged and removed, *more says the round was full and the
 * outbox may hold more. Only one round is ever pending, and it is confirmed
 * before the next is read, so rows leave in order and a pending round is
 * never read twice. On failure nothing unconfirmed is removed, and the
 * next call drains instead (as pw_relay_drain), so that its success still
 * means every row committed before the previous call was acknowledged.
 */
enum pw_err pw_relay_send(struct pw_relay *relay, size_t *confirmed, bool *more,
                          struct pw_errbuf *err);
/* Waits for the pending round's acknowledgement and removes it. */
enum pw_err pw_relay_confirm(struct pw_relay *relay, size_t *confirmed, struct pw_errbuf *err);

/* Frees the relay's slots; safe on a zeroed relay. */
void pw_relay_release(struct pw_relay *relay);

#endif
