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

#include <stdio.h>
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
                                        struct pw_outcome *out, unsigned attempts,
                                        struct pw_errbuf *err)
{
    struct pw_dead_letter dl = {.origin = in->origin, .code = out->err.code,
                                .attempts = attempts};
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
            if (env->traceparent[0])
                pw_trace_child(env->traceparent, evs[i].id, evs[i].traceparent);
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
        return dispatch_dead_letter(app, in, out, 1, err);
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
        return dispatch_dead_letter(app, in, out, 1, err);
    }

    struct pw_event evs[PW_CMD_MAX_EVENTS];
    size_t nevents = 0;
    rc = handle(repo, cmd, evs, &nevents, &out->err);
    if (rc && pw_err_kind(rc) != PW_KIND_REJECTED)
        return pw_err_set(err, rc, "%s", out->err.msg);
    if (rc) {
        rc = pw_uow_inbox_put(app->uow, env->source, env->id, rc, err);
        return rc ? rc : dispatch_dead_letter(app, in, out, 1, err);
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
 * A message set aside on its own: its dead letter (code with cause's text,
 * kind failed, not marked processed, so that it can run again once its
 * cause is fixed) and the offsets given, in a transaction of its own.
 */
static enum pw_err dispatch_set_aside(const struct pw_app *app, const struct pw_input *in,
                                      enum pw_err code, const char *cause, unsigned attempts,
                                      const struct pw_offset *offsets, size_t noffsets,
                                      struct pw_outcome *out, struct pw_errbuf *err)
{
    *out = (struct pw_outcome){.kind = PW_OUTCOME_REJECTED};
    pw_err_set(&out->err, code, "%s", cause);
    enum pw_err rc = pw_uow_begin(app->uow, err);
    if (rc)
        return rc;
    rc = dispatch_dead_letter(app, in, out, attempts, err);
    for (size_t i = 0; i < noffsets && !rc; i++)
        rc = pw_uow_offset_put(app->uow, offsets[i].group, offsets[i].topic, offsets[i].partition,
                               offsets[i].next, err);
    if (rc) {
        pw_uow_rollback(app->uow);
        return rc;
    }
    return pw_uow_commit(app->uow, err);
}

static void dispatch_decode(struct pw_input *in, pw_decode_fn decode)
{
    if (decode && !in->ready)
        decode(in);
    in->ready = true;
}

/*
 * Where message in leaves its partition when it is run alone: the next
 * offset after it, if offsets[] holds its partition. false if not (a
 * replay stores none).
 */
static bool dispatch_own_offset(const struct pw_input *in, const struct pw_offset *offsets,
                                size_t noffsets, struct pw_offset *own)
{
    for (size_t i = 0; i < noffsets; i++)
        if (offsets[i].partition == in->origin.partition &&
            strcmp(offsets[i].topic, in->origin.topic) == 0) {
            *own = offsets[i];
            own->next = in->origin.offset + 1;
            return true;
        }
    return false;
}

/*
 * The batch one message at a time, each in a transaction of its own with
 * its own offset (the last with all of the batch's), so that what is done
 * stays done. counted: each message's run is counted first, a new position
 * starting at seed (2 when a run of the batch died: the message may have
 * been what killed it); a message whose runs died max_attempts times is set
 * aside with max_attempts. A message the store refuses is set aside with
 * apply_failed.
 */
static enum pw_err dispatch_alone(struct pw_app *app, struct pw_input *in, size_t n,
                                  size_t from, pw_decode_fn decode,
                                  const struct pw_offset *offsets, size_t noffsets, bool counted,
                                  unsigned seed, struct pw_outcome *outs, struct pw_errbuf *err)
{
    app->attempts.resume.set = false;
    for (size_t i = from; i < n; i++) {
        struct pw_offset own;
        const struct pw_offset *offs = offsets;
        size_t noffs = noffsets;
        if (i + 1 < n) {
            noffs = dispatch_own_offset(&in[i], offsets, noffsets, &own);
            offs = &own;
        }
        unsigned tries = 1;
        enum pw_err rc = PW_OK;
        if (counted)
            rc = pw_attempts_one(&app->attempts, app->uow, &in[i].origin, seed, &tries, err);
        if (!rc && tries > app->max_attempts) {
            char cause[160];
            snprintf(cause, sizeof cause,
                     "the process running it died %u times; given up after "
                     "POSTWORKER_MAX_ATTEMPTS=%u",
                     tries - 1, app->max_attempts);
            rc = dispatch_set_aside(app, &in[i], PW_E_MAX_ATTEMPTS, cause, tries - 1, offs, noffs,
                                    &outs[i], err);
        } else if (!rc) {
            dispatch_decode(&in[i], decode);
            rc = pw_dispatch_batch(app, &in[i], 1, offs, noffs, &outs[i], err);
            if (pw_err_kind(rc) == PW_KIND_FAILED) {
                struct pw_errbuf cause = *err;
                /* Tried in its batch and alone, or in runs that died and now. */
                rc = dispatch_set_aside(app, &in[i], PW_E_APPLY_FAILED, cause.msg,
                                        counted && seed > 1 ? tries : tries + 1, offs, noffs,
                                        &outs[i], err);
            }
        }
        if (rc) {
            /* Those before are committed: the same batch again goes on from here. */
            app->attempts.resume.set = n > 0;
            app->attempts.resume.partition = in[0].origin.partition;
            app->attempts.resume.offset = in[0].origin.offset;
            app->attempts.resume.n = n;
            app->attempts.resume.next = i;
            app->attempts.resume.seed = seed;
            app->attempts.resume.counted = counted;
            fail_all(outs, n, err);
            return rc;
        }
    }
    return PW_OK;
}

/*
 * The same batch again after a transient failure cut its pass alone short:
 * what the earlier try finished is done (applied, or set aside undecoded),
 * and the pass goes on where it stopped.
 */
static enum pw_err dispatch_resume(struct pw_app *app, struct pw_input *in, size_t n,
                                   pw_decode_fn decode, const struct pw_offset *offsets,
                                   size_t noffsets, struct pw_outcome *outs,
                                   struct pw_errbuf *err)
{
    size_t next = app->attempts.resume.next;
    for (size_t i = 0; i < next; i++) {
        outs[i] = (struct pw_outcome){.kind = in[i].ready ? PW_OUTCOME_DUPLICATE
                                                          : PW_OUTCOME_REJECTED};
        if (!in[i].ready)
            pw_err_set(&outs[i].err, PW_E_MAX_ATTEMPTS, "given up in an earlier try of this batch");
    }
    return dispatch_alone(app, in, n, next, decode, offsets, noffsets,
                          app->attempts.resume.counted, app->attempts.resume.seed, outs, err);
}

enum pw_err pw_dispatch_run(struct pw_app *app, struct pw_input *in, size_t n,
                            pw_decode_fn decode, const struct pw_offset *offsets,
                            size_t noffsets, struct pw_outcome *outs, struct pw_errbuf *err)
{
    struct pw_errbuf local;
    if (!err)
        err = &local;
    /*
     * Count the run where its offsets are stored; a replay stores none, and
     * is not counted: it is run by hand, and starts where it is told.
     */
    bool counted = noffsets > 0;
    unsigned tries = 1;
    enum pw_err rc = PW_OK;
    if (app->attempts.resume.set && n == app->attempts.resume.n &&
        in[0].origin.partition == app->attempts.resume.partition &&
        in[0].origin.offset == app->attempts.resume.offset)
        return dispatch_resume(app, in, n, decode, offsets, noffsets, outs, err);
    app->attempts.resume.set = false;
    if (counted)
        rc = pw_attempts_batch(&app->attempts, app->uow, in, n, &tries, err);
    if (rc) {
        fail_all(outs, n, err);
        return rc;
    }
    if (tries > 1) /* a run from here died: find which message killed it */
        return dispatch_alone(app, in, n, 0, decode, offsets, noffsets, true, 2, outs, err);
    for (size_t i = 0; i < n; i++)
        dispatch_decode(&in[i], decode);
    rc = pw_dispatch_batch(app, in, n, offsets, noffsets, outs, err);
    if (pw_err_kind(rc) != PW_KIND_FAILED)
        return rc;
    /* Some command's data was refused (a constraint, a value out of range): find which. */
    return dispatch_alone(app, in, n, 0, decode, offsets, noffsets, counted, 1, outs, err);
}
