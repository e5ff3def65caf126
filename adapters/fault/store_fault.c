/*
 * The fault-injecting store port: every call goes through the plan's
 * counter, so that one plan can fail the nth call of a unit of work and a
 * store together, as one process's calls to its database.
 */
#include "adapters/fault/fault.h"

#include <stdlib.h>

struct fault_store {
    struct pw_store *inner;
    struct pw_fault *plan;
};

static enum pw_err fault_store_offset_get(void *self, const char *group, const char *topic,
                                          int32_t partition, int64_t *offset,
                                          struct pw_errbuf *err)
{
    struct fault_store *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_store_offset_get(f->inner, group, topic, partition, offset, err);
}

static enum pw_err fault_store_runs_end(void *self, const struct pw_run_start *r, size_t n,
                                        struct pw_errbuf *err)
{
    struct fault_store *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_store_runs_end(f->inner, r, n, err);
}

static enum pw_err fault_store_runs_start(void *self, struct pw_run_start *r, size_t n,
                                          struct pw_errbuf *err)
{
    struct fault_store *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_store_runs_start(f->inner, r, n, err);
}

static enum pw_err fault_store_held_next(void *self, struct pw_held *h, bool *found,
                                         struct pw_errbuf *err)
{
    struct fault_store *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_store_held_next(f->inner, h, found, err);
}

static enum pw_err fault_store_parked_list(void *self, const char *after, struct pw_parked *out,
                                           size_t max, size_t *n, struct pw_errbuf *err)
{
    struct fault_store *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_store_parked_list(f->inner, after, out, max, n, err);
}

static enum pw_err fault_store_parking_stats(void *self, struct pw_parking_stats *st,
                                             struct pw_errbuf *err)
{
    struct fault_store *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_store_parking_stats(f->inner, st, err);
}

static enum pw_err fault_store_release(void *self, const char *post_id, bool dry_run,
                                       struct pw_parked *p, bool *found, struct pw_errbuf *err)
{
    struct fault_store *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_store_release(f->inner, post_id, dry_run, p, found, err);
}

static void fault_store_close(void *self)
{
    free(self);
}

static enum pw_err fault_store_holds_nothing(void *self, bool *empty, struct pw_errbuf *err)
{
    struct fault_store *f = self;
    return pw_store_holds_nothing(f->inner, empty, err);
}

static enum pw_err fault_store_prune_inbox(void *self, int64_t older_ms, size_t max,
                                           size_t *pruned, struct pw_errbuf *err)
{
    struct fault_store *f = self;
    return pw_store_prune_inbox(f->inner, older_ms, max, pruned, err);
}

static const struct pw_store_ops fault_store_ops = {
    .name = "fault",
    .offset_get = fault_store_offset_get,
    .holds_nothing = fault_store_holds_nothing,
    .prune_inbox = fault_store_prune_inbox,
    .runs_start = fault_store_runs_start,
    .runs_end = fault_store_runs_end,
    .held_next = fault_store_held_next,
    .parked_list = fault_store_parked_list,
    .parking_stats = fault_store_parking_stats,
    .release = fault_store_release,
    .close = fault_store_close,
};

enum pw_err pw_fault_store_open(struct pw_store *store, struct pw_store *inner,
                                struct pw_fault *plan)
{
    struct fault_store *f = calloc(1, sizeof *f);
    if (!f)
        return PW_E_NOMEM;
    f->inner = inner;
    f->plan = plan;
    store->ops = &fault_store_ops;
    store->self = f;
    return PW_OK;
}
