/*
 * The fault-injecting outbox reader: peek and remove go through the
 * counter, so a relay can be failed at any call. close never fails.
 */
#include "adapters/fault/fault.h"

#include <stdlib.h>

struct fault_outbox {
    struct pw_outbox *inner;
    struct pw_fault *plan;
};

static enum pw_err fault_outbox_peek(void *self, struct pw_out *outs, uint64_t *seqs, size_t max,
                                     size_t *n, struct pw_errbuf *err)
{
    struct fault_outbox *f = self;
    enum pw_err rc;
    *n = 0;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_outbox_peek(f->inner, outs, seqs, max, n, err);
}

static enum pw_err fault_outbox_remove(void *self, const uint64_t *seqs, size_t n,
                                       struct pw_errbuf *err)
{
    struct fault_outbox *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_outbox_remove(f->inner, seqs, n, err);
}

static void fault_outbox_close(void *self)
{
    free(self);
}

static enum pw_err fault_outbox_high(void *self, uint64_t *seq, struct pw_errbuf *err)
{
    struct fault_outbox *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_outbox_high(f->inner, seq, err);
}

static enum pw_err fault_outbox_stats(void *self, int64_t *pending, int64_t *dead_letters,
                                      int64_t *oldest_ms,
                                      struct pw_errbuf *err)
{
    struct fault_outbox *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_outbox_stats(f->inner, pending, dead_letters, oldest_ms, err);
}

static const struct pw_outbox_ops fault_outbox_ops = {
    .name = "fault",
    .peek = fault_outbox_peek,
    .high = fault_outbox_high,
    .stats = fault_outbox_stats,
    .remove = fault_outbox_remove,
    .close = fault_outbox_close,
};

enum pw_err pw_fault_outbox_open(struct pw_outbox *outbox, struct pw_outbox *inner,
                                 struct pw_fault *plan)
{
    struct fault_outbox *f = calloc(1, sizeof *f);
    if (!f)
        return PW_E_NOMEM;
    f->inner = inner;
    f->plan = plan;
    outbox->ops = &fault_outbox_ops;
    outbox->self = f;
    return PW_OK;
}
