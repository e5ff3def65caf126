/*
 * The drain: held commands of a post whose failed command is done with
 * (applied, rejected, released) run in the order they were held, one at a
 * time, each as a batch of its own through the failure path, so that a
 * held command which fails parks its post again with the rest still held,
 * and one which kills the process is counted like any message run alone.
 * Their offsets were stored when they were held: a drain stores none.
 */
#include "handlers/app.h"

#include <stdlib.h>
#include <string.h>

/* A drain's batches take seqs of their own, apart from the worker's. */
#define DRAIN_SEQ (UINT64_C(1) << 63)

void pw_drained_release(struct pw_drained *d)
{
    for (size_t i = 0; i < d->n; i++) {
        pw_cmd_release(&d->in[i].cmd);
        pw_held_release(&d->held[i]);
    }
    free(d->held);
    free(d->in);
    free(d->outs);
    memset(d, 0, sizeof *d);
}

static void drained_clear(struct pw_drained *d)
{
    for (size_t i = 0; i < d->n; i++) {
        pw_cmd_release(&d->in[i].cmd);
        pw_held_release(&d->held[i]);
    }
    d->n = 0;
}

enum pw_err pw_drain(struct pw_app *app, pw_decode_fn decode, const struct pw_input **in,
                     const struct pw_outcome **outs, size_t *n, struct pw_errbuf *err)
{
    struct pw_drained *d = &app->drained;
    drained_clear(d);
    *in = d->in;
    *outs = d->outs;
    enum pw_err rc = PW_OK;
    while (d->n < d->cap && !rc) {
        struct pw_held *h = &d->held[d->n];
        bool found = false;
        rc = pw_store_held_next(app->store, h, &found, err);
        if (rc || !found)
            break;
        struct pw_input *one = &d->in[d->n];
        *one = (struct pw_input){.origin = h->origin, .held = h->seq, .held_deaths = h->deaths};
        struct pw_batch b = {.seq = DRAIN_SEQ | h->seq, .in = one, .n = 1, .decode = decode,
                             .outs = &d->outs[d->n]};
        rc = pw_isolate_run(app, &b, false, err); /* committed before the next is asked for */
        if (rc) { /* it runs again, first, on the next call */
            pw_cmd_release(&one->cmd);
            pw_held_release(h);
            break;
        }
        d->n++; /* its command, decoded or not, is released with it */
    }
    *n = d->n;
    return rc;
}
