/*
 * Dispatch: inbox check, parking, handler, event ids, outbox, processed
 * mark, all in one unit of work. The processed mark is written in the same
 * transaction as the state change and the events, so that a crash either
 * keeps all three or none, and a redelivered command finds its mark and
 * does nothing.
 *
 * Dead letters are outbox rows like events: recorded in the same
 * transaction as what they belong to (a rejected command's mark, a
 * malformed message's offset), published by the relay after the commit. So
 * no broker round trip happens inside the transaction, a rolled-back batch
 * leaves no dead letter behind, and a crash at any instant loses none.
 *
 * A post whose command failed is parked: its later commands are held with
 * the data, in order, in the same transaction as their offsets, until the
 * failed one is applied or rejected (sent again) or given up (released).
 */
#include "handlers/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/post.h"
#include "domain/text.h"

const char *pw_outcome_kind_name(enum pw_outcome_kind kind)
{
    switch (kind) {
    case PW_OUTCOME_APPLIED: return "applied";
    case PW_OUTCOME_DUPLICATE: return "duplicate";
    case PW_OUTCOME_REJECTED: return "rejected";
    case PW_OUTCOME_HELD: return "held";
    case PW_OUTCOME_RETRY: return "retry";
    }
    return "retry";
}

/* Records in's dead letter for the rejection in out->err, and makes the outcome one. */
static enum pw_err dispatch_dead_letter(const struct pw_app *app, const struct pw_input *in,
                                        struct pw_outcome *out, unsigned attempts,
                                        const char *parked, struct pw_errbuf *err)
{
    struct pw_dead_letter dl = {.origin = in->origin, .code = out->err.code,
                                .attempts = attempts};
    memcpy(dl.message, out->err.msg, sizeof dl.message);
    dl.message[sizeof dl.message - 1] = '\0';
    pw_text_scrub(dl.message); /* it is stored as text: valid UTF-8, whoever wrote it */
    snprintf(dl.parked, sizeof dl.parked, "%s", parked ? parked : "");
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

/* What parking makes of a command: run it, hold it, or it is a duplicate of a held one. */
enum dispatch_park { PARK_RUN, PARK_RUN_FAILED, PARK_HOLD, PARK_DUPLICATE };

/*
 * A command of a parked post is held, unless it is the drain's (a held
 * command whose turn it is) or the command the post waits on, sent again.
 * A command held already is a duplicate.
 */
static enum pw_err dispatch_parking(const struct pw_app *app, const struct pw_input *in,
                                    enum dispatch_park *park, struct pw_errbuf *err)
{
    const struct pw_cmd *cmd = &in->cmd;
    struct pw_parked p;
    bool parked = false, held = false;
    *park = PARK_RUN;
    if (!cmd->post_id || pw_post_check_id(cmd->post_id, NULL) || in->held)
        return PW_OK;
    enum pw_err rc = pw_uow_parked_get(app->uow, cmd->post_id, &p, &parked, err);
    if (rc || !parked)
        return rc;
    if (!p.draining && pw_parked_is_failed(&p, cmd, &in->origin)) {
        *park = PARK_RUN_FAILED;
        return PW_OK;
    }
    rc = pw_uow_held_get(app->uow, cmd->env.source, cmd->env.id, &held, err);
    *park = held ? PARK_DUPLICATE : PARK_HOLD;
    return rc;
}

/* After a command ran to an outcome: its place in a queue is done, or the post it held up drains. */
static enum pw_err dispatch_unblock(const struct pw_app *app, const struct pw_input *in,
                                    enum dispatch_park park, bool *resolved,
                                    struct pw_errbuf *err)
{
    if (in->held)
        return pw_uow_held_done(app->uow, in->held, err);
    if (park != PARK_RUN_FAILED)
        return PW_OK;
    if (resolved)
        *resolved = true;
    return pw_uow_unpark(app->uow, in->cmd.post_id, err);
}

/* Runs cmd's use case: PW_OK with *out filled, or a failure of the batch. */
static enum pw_err dispatch_handle(const struct pw_app *app, struct pw_repo *repo,
                                   const struct pw_input *in, struct pw_outcome *out,
                                   struct pw_errbuf *err)
{
    const struct pw_cmd *cmd = &in->cmd;
    const struct pw_envelope *env = &cmd->env;
    pw_handler_fn handle = pw_registry_lookup(&app->reg, cmd->type);
    if (!handle) {
        /* Not marked processed: a later version with a handler may run it. */
        pw_err_set(&out->err, PW_E_UNKNOWN_TYPE, "no handler for command type '%s'",
                   pw_cmd_type_name(cmd->type) ? pw_cmd_type_name(cmd->type) : "?");
        return dispatch_dead_letter(app, in, out, 1, NULL, err);
    }
    struct pw_event evs[PW_CMD_MAX_EVENTS];
    size_t nevents = 0;
    enum pw_err rc = handle(repo, cmd, evs, &nevents, &out->err);
    if (rc && pw_err_kind(rc) != PW_KIND_REJECTED)
        return pw_err_set(err, rc, "%s", out->err.msg);
    /* A rejected command's post_id may be anything: it is kept only when it is one. */
    const char *post_id = pw_post_check_id(cmd->post_id, NULL) ? NULL : cmd->post_id;
    if (rc) {
        rc = pw_uow_inbox_put(app->uow, env->source, env->id, rc, post_id, 0, err);
        return rc ? rc : dispatch_dead_letter(app, in, out, 1, NULL, err);
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
    return pw_uow_inbox_put(app->uow, env->source, env->id, PW_OK, post_id, out->version, err);
}

/*
 * Whether the store's offset has passed in's message: the transaction that
 * moved it past dead-lettered it then. Only a replay asks (a batch that
 * stores no offsets): a counted run has already set aside what is below
 * the stored offset (handlers/isolate.c, iso_stale).
 */
static enum pw_err dispatch_passed(const struct pw_app *app, const struct pw_input *in,
                                   bool *passed, struct pw_errbuf *err)
{
    const struct pw_origin *o = &in->origin;
    int64_t stored = -1;
    *passed = false;
    if (in->held || !o->group || !o->topic)
        return PW_OK;
    enum pw_err rc = pw_store_offset_get(app->store, o->group, o->topic, o->partition, &stored,
                                         err);
    *passed = !rc && stored > o->offset;
    return rc;
}

/*
 * Runs one message inside the open unit of work. Returns PW_OK with *out
 * filled for every per-message result; anything else fails the batch.
 */
static enum pw_err dispatch_one(const struct pw_app *app, struct pw_repo *repo,
                                const struct pw_input *in, bool replay, struct pw_outcome *out,
                                bool *resolved, struct pw_errbuf *err)
{
    enum pw_err rc;
    if (in->decoded.code != PW_OK) {
        bool passed = false;
        if (replay && (rc = dispatch_passed(app, in, &passed, err)))
            return rc;
        if (passed) {
            out->kind = PW_OUTCOME_DUPLICATE;
            pw_err_set(&out->err, in->decoded.code, "the message at offset %lld was "
                       "dead-lettered when the store passed it", (long long)in->origin.offset);
            return PW_OK;
        }
        out->err = in->decoded;
        rc = dispatch_dead_letter(app, in, out, 1, NULL, err);
        return rc || !in->held ? rc : pw_uow_held_done(app->uow, in->held, err);
    }
    const struct pw_envelope *env = &in->cmd.env;
    bool seen = false;
    enum pw_err first = PW_OK;
    rc = pw_uow_inbox_get(app->uow, env->source, env->id, &seen, &first, err);
    if (rc)
        return rc;
    if (seen) {
        out->kind = PW_OUTCOME_DUPLICATE;
        pw_err_set(&out->err, first, "command '%s' from '%s' was processed before (%s)",
                   env->id, env->source, pw_err_name(first));
        return in->held ? pw_uow_held_done(app->uow, in->held, err) : PW_OK;
    }
    enum dispatch_park park;
    rc = dispatch_parking(app, in, &park, err);
    if (rc)
        return rc;
    if (park == PARK_DUPLICATE) {
        out->kind = PW_OUTCOME_DUPLICATE;
        pw_err_set(&out->err, PW_OK, "command '%s' from '%s' is held already", env->id,
                   env->source);
        return PW_OK;
    }
    if (park == PARK_HOLD) {
        out->kind = PW_OUTCOME_HELD;
        pw_err_set(&out->err, PW_OK, "post '%s' is parked behind a command that failed",
                   in->cmd.post_id);
        /* Its deaths so far go with it: a replay's run is not counted, so it has none. */
        unsigned deaths = replay ? 0 : pw_runs_deaths(&app->runs, in);
        return pw_uow_hold(app->uow, in->cmd.post_id, env->source, env->id, &in->origin, deaths,
                           err);
    }
    rc = dispatch_handle(app, repo, in, out, err);
    return rc ? rc : dispatch_unblock(app, in, park, resolved, err);
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
    if (!pw_uow_has_prefetch(app->uow))
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

static enum pw_err dispatch_offsets(const struct pw_app *app, const struct pw_offset *offsets,
                                    size_t noffsets, struct pw_errbuf *err)
{
    enum pw_err rc = PW_OK;
    for (size_t i = 0; i < noffsets && !rc; i++)
        rc = pw_uow_offset_put(app->uow, offsets[i].group, offsets[i].topic, offsets[i].partition,
                               offsets[i].next, err);
    return rc;
}

enum pw_err pw_dispatch_batch(struct pw_app *app, const struct pw_input *in, size_t n,
                              const struct pw_offset *offsets, size_t noffsets, bool send,
                              struct pw_outcome *outs, bool *resolved, struct pw_errbuf *err)
{
    struct pw_errbuf local;
    if (!err)
        err = &local;
    pw_err_clear(err);
    memset(outs, 0, n * sizeof *outs);
    bool done = false; /* what the batch resolved counts only if it commits */

    enum pw_err rc = pw_uow_begin(app->uow, err);
    if (rc)
        goto fail;
    rc = dispatch_prefetch(app, in, n, err);
    if (rc)
        goto rollback;
    struct pw_repo repo = pw_uow_posts(app->uow);
    for (size_t i = 0; i < n; i++) {
        rc = dispatch_one(app, &repo, &in[i], noffsets == 0, &outs[i], &done, err);
        if (rc)
            goto rollback;
    }
    rc = dispatch_offsets(app, offsets, noffsets, err);
    if (rc)
        goto rollback;
    rc = send ? pw_uow_commit_send(app->uow, err) : pw_uow_commit(app->uow, err);
    if (rc)
        goto fail; /* a failed commit has already ended the transaction */
    if (resolved && done)
        *resolved = true;
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
 * The post a failed message parks: its command's, or undecoded (it killed
 * the process before it could be read) the one its key names, as producers
 * key commands. NULL when there is none to name.
 */
static const char *dispatch_parks(const struct pw_input *in, char buf[PW_POST_ID_MAX + 1])
{
    if (in->ready && in->decoded.code == PW_OK)
        return in->cmd.post_id && !pw_post_check_id(in->cmd.post_id, NULL) ? in->cmd.post_id
                                                                            : NULL;
    const struct pw_origin *o = &in->origin;
    if (!o->key || o->key_len == 0 || o->key_len > PW_POST_ID_MAX)
        return NULL;
    memcpy(buf, o->key, o->key_len);
    buf[o->key_len] = '\0';
    return strlen(buf) == o->key_len && !pw_post_check_id(buf, NULL) ? buf : NULL;
}

static enum pw_err dispatch_park(struct pw_app *app, const struct pw_input *in, const char *post,
                                 enum pw_err code, struct pw_errbuf *err)
{
    struct pw_parked p = {.code = code, .partition = in->origin.partition,
                          .offset = in->origin.offset};
    snprintf(p.post_id, sizeof p.post_id, "%s", post);
    snprintf(p.topic, sizeof p.topic, "%s", in->origin.topic ? in->origin.topic : "");
    if (in->ready && in->decoded.code == PW_OK) {
        snprintf(p.source, sizeof p.source, "%s", in->cmd.env.source);
        snprintf(p.id, sizeof p.id, "%s", in->cmd.env.id);
    } else {
        p.value = in->origin.value ? in->origin.value : "";
        p.value_len = in->origin.value_len;
    }
    return pw_uow_park(app->uow, &p, err);
}

enum pw_err pw_dispatch_set_aside(struct pw_app *app, const struct pw_input *in, enum pw_err code,
                                  const char *cause, unsigned attempts,
                                  const struct pw_offset *offsets, size_t noffsets,
                                  struct pw_outcome *out, struct pw_errbuf *err)
{
    *out = (struct pw_outcome){.kind = PW_OUTCOME_REJECTED};
    pw_err_set(&out->err, code, "%s", cause);
    char buf[PW_POST_ID_MAX + 1];
    const char *post = dispatch_parks(in, buf);
    enum pw_err rc = pw_uow_begin(app->uow, err);
    if (!rc && post && !in->held) {
        /*
         * A post that already waits on another failed command keeps waiting
         * on that one, and one that drains keeps draining: this one (given
         * up before it could be held) does not take its place, or the
         * commands held before it would run after it once it is sent again.
         */
        struct pw_parked p;
        bool parked = false;
        rc = pw_uow_parked_get(app->uow, post, &p, &parked, err);
        if (!rc && parked)
            post = NULL;
    }
    if (rc) {
        pw_uow_rollback(app->uow);
        return rc;
    }
    rc = dispatch_dead_letter(app, in, out, attempts, post, err);
    if (!rc && post)
        rc = dispatch_park(app, in, post, code, err);
    if (!rc && in->held)
        rc = pw_uow_held_done(app->uow, in->held, err);
    if (!rc)
        rc = dispatch_offsets(app, offsets, noffsets, err);
    if (rc) {
        pw_uow_rollback(app->uow);
        return rc;
    }
    return pw_uow_commit(app->uow, err);
}
