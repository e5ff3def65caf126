/*
 * Dispatch: inbox check, handler, event ids, outbox, processed mark, all in
 * one unit of work. The processed mark is written in the same transaction
 * as the state change and the events, so that a crash either keeps all
 * three or none, and a redelivered command finds its mark and does nothing.
 *
 * Dead letters are outbox rows like events: recorded in the same
 * transaction as what they belong to (a rejected command's mark, a
 * malformed message's offset), published by the relay after the commit. So
 * no broker round trip happens inside the transaction, a rolled-back batch
 * leaves no dead letter behind, and a crash at any instant loses none.
 */
#include "handlers/app.h"

#include <stdlib.h>
#include <string.h>

#include "domain/text.h"

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

/* Records in's dead letter for the rejection in out->err, and makes the outcome one. */
static enum pw_err dispatch_dead_letter(const struct pw_app *app, const struct pw_input *in,
                                        struct pw_outcome *out, struct pw_errbuf *err)
{
    struct pw_dead_letter dl = {.origin = in->origin, .code = out->err.code, .attempts = 1};
    memcpy(dl.message, out->err.msg, sizeof dl.message);
    dl.message[sizeof dl.message - 1] = '\0';
    pw_text_scrub(dl.message); /* it is stored as text: valid UTF-8, whoever wrote it */
    out->kind = PW_OUTCOME_REJECTED;
    return pw_uow_dead_letter_put(app->uow, app->dlq_topic, &dl, err);
}

/* Records the handler's events with their ids; on failure frees those not recorded. */
static enum pw_err dispatch_events(const struct pw_app *app, const struct pw_envelope *env,
                                   struct pw_event *evs, size_t n, struct pw_errbuf *err)
{
    enum pw_err rc = PW_OK;
    for (size_t i = 0; i < n; i++) {
        if (!rc) {
            evs[i].index = (unsigned)i;
            pw_ids_event_id(app->ids, env->source, env->id, evs[i].index, evs[i].id);
            rc = pw_uow_outbox_put(app->uow, app->events_topic, &evs[i], err);
        }
        if (rc)
            pw_event_release(&evs[i]);
    }
    return rc;
}

/*
 * Runs one message inside the open unit of work. Returns PW_OK with *out
 * filled for every per-message result; anything else fails the batch.
 */
static enum pw_err dispatch_one(const struct pw_app *app, struct pw_repo *repo,
                                const struct pw_input *in, struct pw_outcome *out,
                                struct pw_errbuf *err)
{
    if (in->decoded.code != PW_OK) {
        out->err = in->decoded;
        return dispatch_dead_letter(app, in, out, err);
    }
    const struct pw_cmd *cmd = &in->cmd;
    const struct pw_envelope *env = &cmd->env;
    bool seen = false;
    enum pw_err first = PW_OK;
    enum pw_err rc = pw_uow_inbox_get(app->uow, env->source, env->id, &seen, &first, err);
    if (rc)
        return rc;
    if (seen) {
        out->kind = PW_OUTCOME_DUPLICATE;
        pw_err_set(&out->err, first, "command '%s' from '%s' was processed before (%s)",
                   env->id, env->source, pw_err_name(first));
        return PW_OK;
    }

    pw_handler_fn handle = pw_registry_lookup(&app->reg, cmd->type);
    if (!handle) {
        /* Not marked processed: a later version with a handler may run it. */
        pw_err_set(&out->err, PW_E_UNKNOWN_TYPE, "no handler for command type '%s'",
                   pw_cmd_type_name(cmd->type) ? pw_cmd_type_name(cmd->type) : "?");
        return dispatch_dead_letter(app, in, out, err);
    }

    struct pw_event evs[PW_CMD_MAX_EVENTS];
    size_t nevents = 0;
    rc = handle(repo, cmd, evs, &nevents, &out->err);
    if (rc && pw_err_kind(rc) != PW_KIND_REJECTED)
        return pw_err_set(err, rc, "%s", out->err.msg);
    if (rc) {
        rc = pw_uow_inbox_put(app->uow, env->source, env->id, rc, err);
        return rc ? rc : dispatch_dead_letter(app, in, out, err);
    }
    if (nevents) {
        out->event = evs[0].type;
        out->version = evs[0].post.version;
    }
    out->nevents = (unsigned)nevents;
    rc = dispatch_events(app, env, evs, nevents, err);
    if (rc)
        return rc;
    out->kind = PW_OUTCOME_APPLIED;
    return pw_uow_inbox_put(app->uow, env->source, env->id, PW_OK, err);
}

static void fail_all(struct pw_outcome *outs, size_t n, const struct pw_errbuf *cause)
{
    for (size_t i = 0; i < n; i++)
        outs[i] = (struct pw_outcome){.kind = PW_OUTCOME_RETRY, .err = *cause};
}

/* Hands the unit of work the batch's commands, so that it can load what they touch at once. */
static enum pw_err dispatch_prefetch(const struct pw_app *app, const struct pw_input *in,
                                     size_t n, struct pw_errbuf *err)
{
    if (!app->uow->ops->prefetch)
        return PW_OK;
    const struct pw_cmd **cmds = malloc((n ? n : 1) * sizeof *cmds);
    if (!cmds)
        return pw_err_set(err, PW_E_NOMEM, "out of memory prefetching a batch of %zu", n);
    size_t ncmds = 0;
    for (size_t i = 0; i < n; i++)
        if (in[i].decoded.code == PW_OK)
            cmds[ncmds++] = &in[i].cmd;
    enum pw_err rc = pw_uow_prefetch(app->uow, cmds, ncmds, err);
    free(cmds);
    return rc;
}

enum pw_err pw_dispatch_batch(const struct pw_app *app, const struct pw_input *in, size_t n,
                              const struct pw_offset *offsets, size_t noffsets,
                              struct pw_outcome *outs, struct pw_errbuf *err)
{
    struct pw_errbuf local;
    if (!err)
        err = &local;
    pw_err_clear(err);
    memset(outs, 0, n * sizeof *outs);

    enum pw_err rc = pw_uow_begin(app->uow, err);
    if (rc)
        goto fail;
    rc = dispatch_prefetch(app, in, n, err);
    if (rc)
        goto rollback;
    struct pw_repo repo = pw_uow_posts(app->uow);
    for (size_t i = 0; i < n; i++) {
        rc = dispatch_one(app, &repo, &in[i], &outs[i], err);
        if (rc)
            goto rollback;
    }
    for (size_t i = 0; i < noffsets; i++) {
        const struct pw_offset *o = &offsets[i];
        rc = pw_uow_offset_put(app->uow, o->group, o->topic, o->partition, o->next, err);
        if (rc)
            goto rollback;
    }
    rc = pw_uow_commit(app->uow, err);
    if (rc)
        goto fail; /* a failed commit has already ended the transaction */
    return PW_OK;

rollback:
    pw_uow_rollback(app->uow);
fail:
    if (err->code != rc)
        err->code = rc;
    fail_all(outs, n, err);
    return rc;
}

/*
 * A command the store refused on its own: its dead letter (kind failed,
 * not marked processed, so that it can run again once its cause is fixed)
 * and the batch's offsets if it carries them, in a transaction of its own.
 */
static enum pw_err dispatch_failed(const struct pw_app *app, const struct pw_input *in,
                                   const struct pw_errbuf *cause, const struct pw_offset *offsets,
                                   size_t noffsets, struct pw_outcome *out, struct pw_errbuf *err)
{
    *out = (struct pw_outcome){.kind = PW_OUTCOME_REJECTED};
    pw_err_set(&out->err, PW_E_APPLY_FAILED, "%s", cause->msg);
    enum pw_err rc = pw_uow_begin(app->uow, err);
    if (rc)
        return rc;
    rc = dispatch_dead_letter(app, in, out, err);
    for (size_t i = 0; i < noffsets && !rc; i++)
        rc = pw_uow_offset_put(app->uow, offsets[i].group, offsets[i].topic, offsets[i].partition,
                               offsets[i].next, err);
    if (rc) {
        pw_uow_rollback(app->uow);
        return rc;
    }
    return pw_uow_commit(app->uow, err);
}

enum pw_err pw_dispatch_run(const struct pw_app *app, const struct pw_input *in, size_t n,
                            const struct pw_offset *offsets, size_t noffsets,
                            struct pw_outcome *outs, struct pw_errbuf *err)
{
    enum pw_err rc = pw_dispatch_batch(app, in, n, offsets, noffsets, outs, err);
    if (pw_err_kind(rc) != PW_KIND_FAILED)
        return rc;
    /*
     * Some command's data was refused (a constraint, a value out of range):
     * run the batch again one command at a time to find which. The others
     * are applied; the offsets go with the last.
     */
    for (size_t i = 0; i < n; i++) {
        bool last = i + 1 == n;
        const struct pw_offset *offs = last ? offsets : NULL;
        size_t noffs = last ? noffsets : 0;
        rc = pw_dispatch_batch(app, &in[i], 1, offs, noffs, &outs[i], err);
        if (pw_err_kind(rc) == PW_KIND_FAILED) {
            struct pw_errbuf cause = *err;
            rc = dispatch_failed(app, &in[i], &cause, offs, noffs, &outs[i], err);
        }
        if (rc) {
            /* Those before are committed: the retried batch finds them duplicates. */
            fail_all(outs, n, err);
            return rc;
        }
    }
    return PW_OK;
}
