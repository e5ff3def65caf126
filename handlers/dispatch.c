/*
 * Dispatch: inbox check, handler, event ids, outbox, processed mark, all in
 * one unit of work. The processed mark is written in the same transaction as
 * the state change and the events, so that a crash either keeps all three or
 * none, and a redelivered command finds its mark and does nothing.
 */
#include "handlers/dispatch.h"

#include <string.h>

const char *pw_outcome_kind_name(enum pw_outcome_kind kind)
{
    switch (kind) {
    case PW_OUTCOME_APPLIED: return "applied";
    case PW_OUTCOME_DUPLICATE: return "duplicate";
    case PW_OUTCOME_REJECTED: return "rejected";
    case PW_OUTCOME_RETRY: return "retry";
    }
    return "retry";
}

/*
 * Runs one command inside the open unit of work. Returns PW_OK with *out
 * filled for every per-command result; anything else fails the batch.
 */
static enum pw_err dispatch_one(const struct pw_dispatcher *d, struct pw_repo *repo,
                                const struct pw_cmd *cmd, struct pw_outcome *out,
                                struct pw_errbuf *err)
{
    const struct pw_envelope *env = &cmd->env;
    bool seen = false;
    enum pw_err first = PW_OK;
    enum pw_err rc = pw_uow_inbox_get(d->uow, env->source, env->id, &seen, &first, err);
    if (rc)
        return rc;
    if (seen) {
        out->kind = PW_OUTCOME_DUPLICATE;
        pw_err_set(&out->err, first, "command '%s' from '%s' was processed before (%s)",
                   env->id, env->source, pw_err_name(first));
        return PW_OK;
    }

    pw_handler_fn handle = pw_registry_lookup(d->reg, cmd->type);
    if (!handle) {
        /* Not marked processed: a later version with a handler may run it. */
        out->kind = PW_OUTCOME_REJECTED;
        pw_err_set(&out->err, PW_E_UNKNOWN_TYPE, "no handler for command type '%s'",
                   pw_cmd_type_name(cmd->type) ? pw_cmd_type_name(cmd->type) : "?");
        return PW_OK;
    }

    rc = handle(repo, cmd, out->events, &out->nevents, &out->err);
    if (rc && pw_err_kind(rc) != PW_KIND_REJECTED)
        return pw_err_set(err, rc, "%s", out->err.msg);
    if (rc) {
        out->kind = PW_OUTCOME_REJECTED;
        return pw_uow_inbox_put(d->uow, env->source, env->id, rc, err);
    }

    for (size_t i = 0; i < out->nevents; i++) {
        struct pw_event *ev = &out->events[i];
        ev->index = (unsigned)i;
        pw_ids_event_id(d->ids, env->source, env->id, ev->index, ev->id);
        rc = pw_uow_outbox_put(d->uow, ev, err);
        if (rc)
            return rc;
    }
    out->kind = PW_OUTCOME_APPLIED;
    return pw_uow_inbox_put(d->uow, env->source, env->id, PW_OK, err);
}

static void fail_all(struct pw_outcome *outs, size_t n, const struct pw_errbuf *cause)
{
    for (size_t i = 0; i < n; i++) {
        pw_outcome_release(&outs[i]);
        outs[i].kind = PW_OUTCOME_RETRY;
        outs[i].err = *cause;
    }
}

enum pw_err pw_dispatch_batch(const struct pw_dispatcher *d, const struct pw_cmd *cmds, size_t n,
                              const struct pw_offset *offsets, size_t noffsets,
                              struct pw_outcome *outs, struct pw_errbuf *err)
{
    struct pw_errbuf local;
    if (!err)
        err = &local;
    pw_err_clear(err);
    memset(outs, 0, n * sizeof *outs);

    enum pw_err rc = pw_uow_begin(d->uow, err);
    if (rc)
        goto fail;
    rc = pw_uow_prefetch(d->uow, cmds, n, err);
    if (rc)
        goto rollback;
    struct pw_repo repo = pw_uow_posts(d->uow);
    for (size_t i = 0; i < n; i++) {
        rc = dispatch_one(d, &repo, &cmds[i], &outs[i], err);
        if (rc)
            goto rollback;
    }
    for (size_t i = 0; i < noffsets; i++) {
        rc = pw_uow_offset_put(d->uow, offsets[i].topic, offsets[i].partition, offsets[i].next,
                               err);
        if (rc)
            goto rollback;
    }
    if (d->before_commit && (rc = d->before_commit(d->before_commit_arg, cmds, outs, n, err)))
        goto rollback;
    rc = pw_uow_commit(d->uow, err);
    if (rc)
        goto fail; /* a failed commit has already ended the transaction */
    return PW_OK;

rollback:
    pw_uow_rollback(d->uow);
fail:
    if (err->code != rc)
        err->code = rc;
    fail_all(outs, n, err);
    return rc;
}

enum pw_outcome_kind pw_dispatch(const struct pw_dispatcher *d, const struct pw_cmd *cmd,
                                 struct pw_outcome *out)
{
    pw_dispatch_batch(d, cmd, 1, NULL, 0, out, NULL);
    return out->kind;
}

static enum pw_err app_run(void *self, const struct pw_cmd *cmds, size_t n,
                           const struct pw_offset *offsets, size_t noffsets,
                           struct pw_outcome *outs, pw_before_commit_fn hook, void *hook_arg,
                           struct pw_errbuf *err)
{
    struct pw_app *app = self;
    struct pw_dispatcher d = app->d;
    d.before_commit = hook;
    d.before_commit_arg = hook_arg;
    return pw_dispatch_batch(&d, cmds, n, offsets, noffsets, outs, err);
}

static enum pw_err app_publish(void *self, size_t *published, struct pw_errbuf *err)
{
    struct pw_app *app = self;
    return pw_relay_drain(app->relay, published, err);
}

static enum pw_err app_publish_start(void *self, size_t *confirmed, bool *more,
                                     struct pw_errbuf *err)
{
    struct pw_app *app = self;
    return pw_relay_send(app->relay, confirmed, more, err);
}

static enum pw_err app_position(void *self, const char *topic, int32_t partition,
                                int64_t *offset, struct pw_errbuf *err)
{
    struct pw_app *app = self;
    return pw_uow_offset_get(app->d.uow, topic, partition, offset, err);
}

static const struct pw_service_ops app_service_ops = {
    .name = "app",
    .run = app_run,
    .publish = app_publish,
    .publish_start = app_publish_start,
    .position = app_position,
};

void pw_app_service(struct pw_service *svc, struct pw_app *impl)
{
    svc->ops = &app_service_ops;
    svc->self = impl;
}
