/*
 * Port: the outbound message bus that carries outgoing messages (domain
 * events to downstream consumers, dead letters to operators), each to the
 * topic it names. Publishing may be asynchronous; flush is the point at
 * which the caller learns that everything published so far was
 * acknowledged.
 */
#ifndef PW_PORTS_BUS_H
#define PW_PORTS_BUS_H

#include "domain/err.h"
#include "ports/message.h"

struct pw_bus_ops {
    const char *name;
    /*
     * Queues out (still the caller's; the bus copies what it needs) for
     * delivery after every message queued before it: an event keyed by its
     * post id, a dead letter with its origin's key, value and headers plus
     * the dlq.* headers of the contract. Transient if the bus cannot take
     * it now.
     */
    enum pw_err (*publish)(void *self, const struct pw_out *out, struct pw_errbuf *err);
    /*
     * Waits up to timeout_ms (-1: until every message is settled) until
     * every queued message is acknowledged. PW_OK means all were; any
     * failure means some may not have been, and the caller publishes them
     * again (consumers see at-least-once).
     */
    enum pw_err (*flush)(void *self, int timeout_ms, struct pw_errbuf *err);
    /* Frees the bus; messages not yet flushed may be lost, so flush first. */
    void (*close)(void *self);
};

struct pw_bus {
    const struct pw_bus_ops *ops;
    void *self;
};

static inline enum pw_err pw_bus_publish(struct pw_bus *bus, const struct pw_out *out,
                                         struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, bus->ops->publish(bus->self, out, err));
}

static inline enum pw_err pw_bus_flush(struct pw_bus *bus, int timeout_ms, struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, bus->ops->flush(bus->self, timeout_ms, err));
}

static inline void pw_bus_close(struct pw_bus *bus)
{
    if (bus->ops)
        bus->ops->close(bus->self);
}

#endif
