/*
 * The simulated bus: what a process publishes waits in its own pending
 * list until a flush. A flush either acknowledges everything, or fails
 * after the broker took a prefix of it (a timeout after delivery: the
 * relay sends those again, and consumers see them twice). A crash loses
 * the pending list. Order is kept, as Kafka's idempotent producer keeps it
 * within a partition.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"

static void deliver(struct sim_world *w, const struct sim_out *o)
{
    if (w->ndelivered == w->cap_delivered) {
        w->cap_delivered = w->cap_delivered ? 2 * w->cap_delivered : 256;
        w->delivered = realloc(w->delivered, w->cap_delivered * sizeof *w->delivered);
        if (!w->delivered)
            abort();
    }
    w->delivered[w->ndelivered++] = *o;
}

static enum pw_err bus_publish(void *self, const struct pw_out *out, struct pw_errbuf *err)
{
    struct sim_proc *p = self;
    struct sim_world *w = p->w;
    enum pw_err rc = sim_proc_call(p, "sim_bus_publish", err);
    if (rc)
        return rc;
    if (w->faulty && sim_chance(&w->rng, w->cfg.publish_ppm)) {
        w->stats->faults++;
        return pw_err_set(err, PW_E_TRANSIENT, "sim: the producer's queue is full");
    }
    if (p->npending == p->cap_pending) {
        p->cap_pending = p->cap_pending ? 2 * p->cap_pending : 64;
        p->pending = realloc(p->pending, p->cap_pending * sizeof *p->pending);
        if (!p->pending)
            abort();
    }
    struct sim_out *o = &p->pending[p->npending++];
    memset(o, 0, sizeof *o);
    o->kind = out->kind;
    if (out->kind == PW_OUT_EVENT) {
        const struct pw_event *ev = &out->ev;
        memcpy(o->event_id, ev->id, sizeof o->event_id);
        memcpy(o->post_id, ev->post.post_id, sizeof o->post_id);
        o->version = ev->post.version;
        o->type = ev->type;
        snprintf(o->title, sizeof o->title, "%s", ev->post.title ? ev->post.title : "");
        memcpy(o->cause, ev->causation_id, sizeof o->cause);
    } else {
        o->partition = out->dl.origin.partition;
        o->offset = out->dl.origin.offset;
        o->code = out->dl.code;
        o->parked = out->dl.parked[0] != '\0';
    }
    return PW_OK;
}

static enum pw_err bus_flush(void *self, int timeout_ms, struct pw_errbuf *err)
{
    (void)timeout_ms;
    struct sim_proc *p = self;
    struct sim_world *w = p->w;
    enum pw_err rc = sim_proc_call(p, "sim_bus_flush", err);
    if (rc)
        return rc;
    size_t n = p->npending;
    bool fail = w->faulty && sim_chance(&w->rng, w->cfg.flush_ppm);
    if (fail) {
        n = sim_below(&w->rng, (unsigned)p->npending + 1); /* the broker got a prefix */
        w->stats->faults++;
    }
    for (size_t i = 0; i < n; i++)
        deliver(w, &p->pending[i]);
    sim_trace(w, "w%d: flush: %zu of %zu acknowledged%s", p->slot, n, p->npending,
              fail ? ", then a timeout" : "");
    p->npending = 0;
    w->now_ms += 1;
    if (fail)
        return pw_err_set(err, PW_E_TRANSIENT, "sim: flush timed out");
    return PW_OK;
}

static void bus_close(void *self)
{
    (void)self;
}

static const struct pw_bus_ops sim_bus_ops = {
    .name = "sim",
    .publish = bus_publish,
    .flush = bus_flush,
    .close = bus_close,
};

enum pw_err sim_bus_open(struct pw_bus *bus, struct sim_proc *p)
{
    p->npending = 0;
    *bus = (struct pw_bus){.ops = &sim_bus_ops, .self = p};
    return PW_OK;
}

void sim_bus_drop(struct sim_proc *p)
{
    p->npending = 0;
    free(p->pending);
    p->pending = NULL;
    p->cap_pending = 0;
}
