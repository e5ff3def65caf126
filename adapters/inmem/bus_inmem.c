/*
 * The in-memory message bus. Published messages wait in a pending list
 * until flush "acknowledges" them by moving them to the delivered lists
 * (events and dead letters apart), so that a test sees exactly what a
 * broker would have confirmed.
 */
#include "adapters/inmem/inmem.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct inmem_list {
    struct pw_out *v;
    size_t n, cap;
};

struct inmem_bus {
    struct inmem_list pending;
    struct inmem_list delivered; /* every row, in order, with its topic */
    struct pw_event *events;     /* copies of the delivered events */
    size_t nevents, cap_events;
};

static int inmem_list_reserve(struct inmem_list *list, size_t more)
{
    if (list->n + more <= list->cap)
        return 0;
    size_t cap = list->cap ? list->cap : 16;
    while (cap < list->n + more)
        cap *= 2;
    struct pw_out *v = realloc(list->v, cap * sizeof *v);
    if (!v)
        return -1;
    list->v = v;
    list->cap = cap;
    return 0;
}

static void inmem_list_free(struct inmem_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        pw_out_release(&list->v[i]);
    free(list->v);
    memset(list, 0, sizeof *list);
}

static enum pw_err inmem_bus_publish(void *self, const struct pw_out *out, struct pw_errbuf *err)
{
    struct inmem_bus *b = self;
    if (inmem_list_reserve(&b->pending, 1) || pw_out_copy(&b->pending.v[b->pending.n], out))
        return pw_err_set(err, PW_E_NOMEM, "out of memory publishing to '%s'", out->topic);
    b->pending.n++;
    return PW_OK;
}

static enum pw_err inmem_bus_flush(void *self, int timeout_ms, struct pw_errbuf *err)
{
    (void)timeout_ms;
    struct inmem_bus *b = self;
    size_t need = b->nevents + b->pending.n;
    if (need > b->cap_events) {
        struct pw_event *v = realloc(b->events, need * 2 * sizeof *v);
        if (!v)
            return pw_err_set(err, PW_E_NOMEM, "out of memory delivering events");
        b->events = v;
        b->cap_events = need * 2;
    }
    if (inmem_list_reserve(&b->delivered, b->pending.n))
        return pw_err_set(err, PW_E_NOMEM, "out of memory delivering");
    for (size_t i = 0; i < b->pending.n; i++) {
        const struct pw_out *out = &b->pending.v[i];
        if (out->kind == PW_OUT_EVENT && pw_event_copy(&b->events[b->nevents], &out->ev)) {
            /* Keep what is still pending, and only that, for the next flush. */
            memmove(b->pending.v, b->pending.v + i, (b->pending.n - i) * sizeof *b->pending.v);
            b->pending.n -= i;
            return pw_err_set(err, PW_E_NOMEM, "out of memory delivering events");
        }
        b->nevents += out->kind == PW_OUT_EVENT;
        b->delivered.v[b->delivered.n++] = *out;
        memset(&b->pending.v[i], 0, sizeof b->pending.v[i]);
    }
    b->pending.n = 0;
    return PW_OK;
}

static void inmem_bus_close(void *self)
{
    struct inmem_bus *b = self;
    if (!b)
        return;
    inmem_list_free(&b->pending);
    inmem_list_free(&b->delivered);
    for (size_t i = 0; i < b->nevents; i++)
        pw_event_release(&b->events[i]);
    free(b->events);
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

/* The adapter's state behind bus, checked: a test that passes another bus is a bug. */
static const struct inmem_bus *inmem_bus_of(const struct pw_bus *bus)
{
    assert(bus->ops == &inmem_bus_ops);
    return bus->self;
}

const struct pw_event *pw_inmem_bus_events(const struct pw_bus *bus, size_t *n)
{
    const struct inmem_bus *b = inmem_bus_of(bus);
    *n = b->nevents;
    return b->events;
}

const struct pw_out *pw_inmem_bus_delivered(const struct pw_bus *bus, size_t *n)
{
    const struct inmem_bus *b = inmem_bus_of(bus);
    *n = b->delivered.n;
    return b->delivered.v;
}

/* The discarding bus: every message is taken and acknowledged, and goes nowhere. */
static enum pw_err discard_publish(void *self, const struct pw_out *out, struct pw_errbuf *err)
{
    (void)self;
    (void)out;
    (void)err;
    return PW_OK;
}

static enum pw_err discard_flush(void *self, int timeout_ms, struct pw_errbuf *err)
{
    (void)self;
    (void)timeout_ms;
    (void)err;
    return PW_OK;
}

static void discard_close(void *self)
{
    (void)self;
}

static const struct pw_bus_ops discard_bus_ops = {
    .name = "discard",
    .publish = discard_publish,
    .flush = discard_flush,
    .close = discard_close,
};

void pw_discard_bus_open(struct pw_bus *bus)
{
    *bus = (struct pw_bus){.ops = &discard_bus_ops, .self = NULL};
}
