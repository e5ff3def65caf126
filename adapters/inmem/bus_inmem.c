/*
 * The in-memory message bus. Published events wait in a pending list until
 * flush "acknowledges" them by moving them to the delivered list, so that a
 * test sees exactly what a broker would have confirmed.
 */
#include "adapters/inmem/inmem.h"

#include <stdlib.h>
#include <string.h>

struct inmem_events {
    struct pw_event *v;
    size_t n, cap;
};

struct inmem_bus {
    struct inmem_events pending;
    struct inmem_events delivered;
};

static int inmem_events_reserve(struct inmem_events *list, size_t more)
{
    if (list->n + more <= list->cap)
        return 0;
    size_t cap = list->cap ? list->cap : 16;
    while (cap < list->n + more)
        cap *= 2;
    struct pw_event *v = realloc(list->v, cap * sizeof *v);
    if (!v)
        return -1;
    list->v = v;
    list->cap = cap;
    return 0;
}

static void inmem_events_free(struct inmem_events *list)
{
    for (size_t i = 0; i < list->n; i++)
        pw_event_release(&list->v[i]);
    free(list->v);
    memset(list, 0, sizeof *list);
}

static enum pw_err inmem_bus_publish(void *self, const struct pw_event *ev, struct pw_errbuf *err)
{
    struct inmem_bus *b = self;
    if (inmem_events_reserve(&b->pending, 1) || pw_event_copy(&b->pending.v[b->pending.n], ev))
        return pw_err_set(err, PW_E_NOMEM, "out of memory publishing event '%s'", ev->id);
    b->pending.n++;
    return PW_OK;
}

static enum pw_err inmem_bus_flush(void *self, int timeout_ms, struct pw_errbuf *err)
{
    (void)timeout_ms;
    struct inmem_bus *b = self;
    if (inmem_events_reserve(&b->delivered, b->pending.n))
        return pw_err_set(err, PW_E_NOMEM, "out of memory delivering events");
    memcpy(b->delivered.v + b->delivered.n, b->pending.v, b->pending.n * sizeof *b->pending.v);
    b->delivered.n += b->pending.n;
    b->pending.n = 0;
    return PW_OK;
}

static void inmem_bus_close(void *self)
{
    struct inmem_bus *b = self;
    if (!b)
        return;
    inmem_events_free(&b->pending);
    inmem_events_free(&b->delivered);
    free(b);
}

static const struct pw_bus_ops inmem_bus_ops = {
    .name = "inmem",
    .publish = inmem_bus_publish,
    .flush = inmem_bus_flush,
    .close = inmem_bus_close,
};

enum pw_err pw_inmem_bus_open(struct pw_bus *bus)
{
    struct inmem_bus *b = calloc(1, sizeof *b);
    if (!b)
        return PW_E_NOMEM;
    bus->ops = &inmem_bus_ops;
    bus->self = b;
    return PW_OK;
}

const struct pw_event *pw_inmem_bus_events(const struct pw_bus *bus, size_t *n)
{
    const struct inmem_bus *b = bus->self;
    *n = b->delivered.n;
    return b->delivered.v;
}
