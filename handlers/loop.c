/*
 * The worker loop as steps (handlers/loop.h): each phase does one thing
 * and says what comes next, so that a failure anywhere leaves the loop
 * where a retry or a restart picks it up.
 */
#include "handlers/loop_int.h"

#include <stdlib.h>
#include <string.h>

#include "ports/backoff.h"

static const struct pw_source_listener loop_listener; /* below: the source's assignment changes */

enum pw_err pw_loop_open(struct pw_loop **out, const struct pw_loop_ports *ports,
                         const struct pw_loop_config *cfg, struct pw_errbuf *err)
{
    struct pw_loop *l = calloc(1, sizeof *l);
    *out = NULL;
    if (!l)
        return pw_err_set(err, PW_E_NOMEM, "out of memory for the worker loop");
    l->cfg = *cfg;
    l->seq = cfg->seq;
    if (!l->cfg.batch_size)
        l->cfg.batch_size = 1;
    l->src = ports->source;
    l->svc = ports->svc;
    l->clock = ports->clock;
    l->m = cfg->metrics;
    if (!l->m) {
        pw_metrics_init(&l->own_metrics, "", "");
        l->m = &l->own_metrics;
    }
    size_t cap = l->cfg.batch_size;
    l->outs = calloc(cap, sizeof *l->outs);
    l->offsets = calloc(cap, sizeof *l->offsets);
    l->stamps_next = calloc(cap, sizeof *l->stamps_next);
    bool staged = true;
    for (int i = 0; i < 2; i++) {
        l->stage[i].offs = calloc(cap, sizeof *l->stage[i].offs);
        l->stage[i].stamps = calloc(cap, sizeof *l->stage[i].stamps);
        staged = staged && l->stage[i].offs && l->stage[i].stamps;
    }
    if (!l->outs || !l->offsets || !staged || !l->stamps_next) {
        pw_loop_close(l);
        return pw_err_set(err, PW_E_NOMEM, "out of memory for a batch of %zu", cap);
    }
    /* Publish what an earlier run left in the outbox before taking new work. */
    l->phase = LOOP_PUBLISH;
    l->sync = true;
    l->after_publish = LOOP_FETCH;
    if (cfg->replay) { /* its partitions are its own from the start */
        atomic_store(&l->m->joined, true);
        loop_up(l, PW_M_KAFKA, true);
    }
    struct pw_source_listener listener = loop_listener;
    listener.ctx = l;
    pw_source_listen(l->src, &listener);
    *out = l;
    return PW_OK;
}

void pw_loop_close(struct pw_loop *l)
{
    if (!l)
        return;
    if (l->src) {
        pw_source_listen(l->src, &(struct pw_source_listener){0});
        if (l->batch.n)
            pw_source_release(l->src);
    }
    free(l->outs);
    free(l->offsets);
    for (int i = 0; i < 2; i++) {
        free(l->stage[i].offs);
        free(l->stage[i].stamps);
    }
    free(l->stamps_next);
    free(l);
}

bool pw_loop_done(const struct pw_loop *l)
{
    return l->phase == LOOP_DONE;
}

void pw_loop_stats(const struct pw_loop *l, struct pw_loop_stats *stats)
{
    *stats = l->stats;
    stats->seq = l->seq;
}

/* Commits offs[0..n) to the source; a failure is harmless (the store keeps them too). */
static void loop_commit(struct pw_loop *l, const struct pw_offset *offs, size_t n)
{
    struct pw_errbuf err;
    if (n && pw_source_commit(l->src, offs, n, &err))
        pw_logf(l->cfg.log, "info", "offset commit failed (%s); the stored offsets stand",
                err.msg);
}

/* A stage's rows are acknowledged: its offsets committed (unless commit is false), its latency known. */
static void loop_stage_done(struct pw_loop *l, struct loop_stage *st, bool commit)
{
    if (commit)
        loop_commit(l, st->offs, st->noffs);
    loop_observe_latency(l, st->stamps, st->nstamps);
    st->noffs = st->nstamps = 0;
}

/*
 * One publish call: everything (l->sync) or the overlap. A START call
 * confirms the rows of the batch run two START calls ago (ports/service.h:
 * a run's commit may be on its way until the next run) and commits its
 * offsets, unless commit_pending is false (its partitions were lost); an
 * ALL call confirms every batch run, the one in hand too.
 */
static enum pw_err loop_publish_once(struct pw_loop *l, bool commit_pending,
                                     struct pw_errbuf *err)
{
    struct pw_publish_result res = {0};
    enum pw_err rc = pw_service_publish(l->svc, l->sync ? PW_PUBLISH_ALL : PW_PUBLISH_START,
                                        &res, err);
    l->stats.published += res.confirmed;
    pw_metric_add(&l->m->events_published, res.events);
    if (rc && res.bus_failed)
        loop_up(l, PW_M_KAFKA, false); /* Kafka's own signal; a store that fails says nothing of it */
    if (rc)
        return rc;
    loop_recovered(l);
    if (res.confirmed)
        loop_up(l, PW_M_KAFKA, true); /* the broker acknowledged */
    loop_stage_done(l, &l->stage[1], commit_pending);
    if (res.more) { /* more than one round waits: publish it all, now */
        l->sync = true;
        return loop_publish_once(l, commit_pending, err);
    }
    if (l->sync) {
        loop_stage_done(l, &l->stage[0], commit_pending);
        loop_commit(l, l->offsets, l->noffsets);
        loop_observe_latency(l, l->stamps_next, l->nstamps);
    } else { /* the stages move on: the batch in hand becomes stage 0 */
        struct loop_stage freed = l->stage[1];
        l->stage[1] = l->stage[0];
        l->stage[0] = freed;
        memcpy(l->stage[0].offs, l->offsets, l->noffsets * sizeof *l->offsets);
        l->stage[0].noffs = l->noffsets;
        int64_t *t = l->stage[0].stamps;
        l->stage[0].stamps = l->stamps_next;
        l->stage[0].nstamps = l->nstamps;
        l->stamps_next = t;
    }
    l->noffsets = l->nstamps = 0;
    return PW_OK;
}

/*
 * Starts each assigned partition at its offset stored with the data, the
 * truth wherever one exists: after a database restored from a backup, the
 * worker applies again everything after it, whatever the group committed.
 * The source's committed offset only stands in where the store has none
 * (the in-memory store after a restart, a new database).
 */
static void loop_assigned(void *ctx, struct pw_partition *parts, size_t n)
{
    struct pw_loop *l = ctx;
    for (size_t i = 0; i < n && !l->fatal; i++) { /* after a fatal error, the loop stops */
        struct pw_partition *p = &parts[i];
        int64_t stored = -1;
        struct pw_errbuf err;
        l->attempt = 0;
        enum pw_err rc;
        while ((rc = pw_service_position(l->svc, l->cfg.group, p->topic, p->partition, &stored,
                                         &err)) != PW_OK) {
            if (!pw_err_is_transient(rc)) { /* not to be waited out: the loop stops on it */
                l->fatal = rc;
                l->fatal_err = err;
                break;
            }
            if (!loop_wait(l, "reading the stored offsets", PW_M_RETRY_BATCH, &err))
                break;
        }
        p->start = stored >= 0 ? stored : -1;
    }
    l->attempt = 0;
    pw_metric_add(&l->m->assigns, 1);
    atomic_store(&l->m->joined, true);
    loop_up(l, PW_M_KAFKA, true);
}

/*
 * Publishes everything and commits what is confirmed while the partitions
 * are still ours (not when they were lost: another worker may have moved
 * on). The batch in hand was fetched from them: the source dropped it.
 */
static void loop_revoked(void *ctx, const struct pw_partition *parts, size_t n, bool lost)
{
    (void)parts;
    (void)n;
    struct pw_loop *l = ctx;
    pw_metric_add(&l->m->revokes, 1);
    l->sync = true;
    l->attempt = 0;
    for (;;) {
        enum pw_err rc = loop_publish_once(l, !lost, &l->fatal_err);
        if (!rc)
            break;
        if (!pw_err_is_transient(rc)) {
            l->fatal = rc;
            break;
        }
        if (!loop_wait(l, "publishing", PW_M_RETRY_PUBLISH, &l->fatal_err))
            break;
    }
    l->attempt = 0;
    /* Offsets not committed by now are for partitions no longer ours. */
    for (int i = 0; i < 2; i++)
        l->stage[i].noffs = l->stage[i].nstamps = 0;
    loop_observe_no_lag(l);
}

static const struct pw_source_listener loop_listener = {
    .assigned = loop_assigned,
    .revoked = loop_revoked,
};

/* The next offset of each partition of the batch in hand. */
static void loop_offsets(struct pw_loop *l)
{
    l->noffsets = 0;
    for (size_t i = 0; i < l->batch.n; i++) {
        const struct pw_origin *o = &l->batch.in[i].origin;
        size_t k = 0;
        while (k < l->noffsets && (l->offsets[k].partition != o->partition ||
                                   strcmp(l->offsets[k].topic, o->topic) != 0))
            k++;
        if (k == l->noffsets)
            l->offsets[l->noffsets++] = (struct pw_offset){
                .group = l->cfg.group, .topic = o->topic, .partition = o->partition};
        if (o->offset + 1 > l->offsets[k].next)
            l->offsets[k].next = o->offset + 1;
    }
}

static void loop_drop_batch(struct pw_loop *l)
{
    if (l->batch.n)
        pw_source_release(l->src);
    l->batch.n = 0;
}

/* Goes to phase next, with no failed tries. */
static void loop_go(struct pw_loop *l, enum loop_phase next)
{
    l->phase = next;
    l->attempt = 0;
}

static enum pw_err loop_fetch(struct pw_loop *l, struct pw_errbuf *err)
{
    /* A post released by hand (postworker release) drains within a probe's time. */
    if (loop_probe(l) && !l->cfg.replay) {
        loop_go(l, LOOP_DRAIN);
        return PW_OK;
    }
    loop_talk_tick(l);
    if (loop_stopping(l) || (l->cfg.replay && l->end)) {
        loop_go(l, LOOP_FINISH);
        return PW_OK;
    }
    enum pw_err rc = pw_source_fetch(l->src, l->cfg.batch_size, l->cfg.batch_wait_ms, &l->batch,
                                     err);
    loop_beat(l);
    if (!rc && l->fatal)
        rc = pw_err_set(err, l->fatal, "%s", l->fatal_err.msg);
    if (rc) {
        loop_drop_batch(l);
        return rc;
    }
    l->end |= l->batch.end;
    if (!l->batch.n) {
        /*
         * Idle, publish what other workers (whose relay this may be) or an
         * earlier run committed; a peek with nothing new costs no query.
         */
        l->sync = true;
        l->after_publish = LOOP_FETCH;
        loop_go(l, LOOP_PUBLISH);
        return PW_OK;
    }
    loop_offsets(l);
    l->seq++;
    l->started_ms = pw_clock_now_ms(l->clock);
    loop_go(l, LOOP_RUN);
    return PW_OK;
}

static enum pw_err loop_run(struct pw_loop *l, struct pw_errbuf *err)
{
    /* A replay stores no offsets: it must not move the group's position. */
    struct pw_batch run = {.seq = l->seq, .in = l->batch.in, .n = l->batch.n,
                           .decode = l->src->ops->decode, .offsets = l->offsets,
                           .noffsets = l->cfg.replay ? 0 : l->noffsets, .outs = l->outs,
                           .overlap = l->batch.n >= l->cfg.batch_size};
    enum pw_err rc = pw_service_run(l->svc, &run, err); /* the same seq: what is done stays done */
    loop_up(l, PW_M_STORE, !pw_err_is_transient(rc));
    if (rc && !pw_err_is_transient(rc)) {
        loop_drop_batch(l);
        return rc;
    }
    if (rc) {
        if (!loop_wait(l, "a batch", PW_M_RETRY_BATCH, err)) {
            loop_drop_batch(l); /* stopped during an outage: redelivered, never lost */
            l->noffsets = 0;
            loop_go(l, LOOP_FINISH);
        }
        return PW_OK;
    }
    pw_histogram_observe(&l->m->batch_duration,
                         (double)(pw_clock_now_ms(l->clock) - l->started_ms) / 1e3);
    atomic_store_explicit(&l->m->progress_ms, pw_metrics_mono_ms(), memory_order_relaxed);
    loop_recovered(l);
    l->stats.consumed += l->batch.n;
    l->stats.batches++;
    l->nstamps = loop_count_outcomes(l, l->batch.in, l->outs, l->batch.n, l->stamps_next);
    l->resolved = run.resolved;
    loop_drop_batch(l);
    l->sync = false;
    /* Held commands wait behind what this batch ran: they drain next. */
    l->after_publish = l->resolved ? LOOP_DRAIN : LOOP_FETCH;
    loop_go(l, LOOP_PUBLISH);
    return PW_OK;
}

static enum pw_err loop_publish(struct pw_loop *l, struct pw_errbuf *err)
{
    enum pw_err rc = loop_publish_once(l, true, err);
    if (!rc) {
        loop_go(l, l->after_publish);
        return PW_OK;
    }
    if (!pw_err_is_transient(rc))
        return rc;
    if (!loop_wait(l, "publishing", PW_M_RETRY_PUBLISH, err))
        loop_go(l, LOOP_FINISH);
    return PW_OK;
}

/*
 * One round of held commands whose post drains. A dependency that is down
 * ends it for now: the next probe, or the next batch that resolves a
 * parked post, drains again.
 */
static enum pw_err loop_drain(struct pw_loop *l, struct pw_errbuf *err)
{
    const struct pw_input *in;
    const struct pw_outcome *outs;
    size_t n;
    enum pw_err rc = pw_service_drain(l->svc, l->src->ops->decode, &in, &outs, &n, err);
    loop_count_outcomes(l, in, outs, n, NULL);
    if (rc && !pw_err_is_transient(rc))
        return rc;
    if (rc || !n)
        loop_go(l, LOOP_FETCH);
    return PW_OK;
}

/* A stop or a replay's end: the last batch's rows confirmed and its offsets committed. */
static enum pw_err loop_finish(struct pw_loop *l, struct pw_errbuf *err)
{
    l->sync = true;
    enum pw_err rc = loop_publish_once(l, true, err);
    if (rc && !pw_err_is_transient(rc))
        return rc;
    if (rc && !loop_stopping(l) && loop_wait(l, "publishing", PW_M_RETRY_PUBLISH, err))
        return PW_OK;
    /*
     * Stopped during an outage: what is not done is redelivered, never lost.
     * The record that its runs ended alive is waited for a few seconds (a
     * second signal ends the process at once): without it, the next worker
     * to start a run there counts this one as a try (handlers/runs.h).
     */
    struct pw_errbuf ferr;
    if (pw_loop_finish_service(l->svc, l->clock, &ferr))
        pw_logf(l->cfg.log, "warn", "could not record that the last runs ended (%s): the next "
                "worker counts them as one try", ferr.msg);
    loop_go(l, LOOP_DONE);
    return PW_OK;
}

enum pw_err pw_loop_finish_service(struct pw_service *svc, struct pw_clock *clock,
                                   struct pw_errbuf *err)
{
    int64_t until = pw_clock_now_ms(clock) + PW_LOOP_FINISH_MS;
    enum pw_err rc;
    for (unsigned i = 0; (rc = pw_service_finish(svc, err)) != PW_OK; i++) {
        /* A commit lost on its way is said once: the next try records the runs' end. */
        long ms = pw_backoff_ms(i);
        if ((!pw_err_is_transient(rc) && rc != PW_E_LOST_COMMITS) ||
            pw_clock_now_ms(clock) + ms > until)
            break;
        pw_clock_sleep_ms(clock, ms, NULL);
    }
    return rc;
}

enum pw_err pw_loop_step(struct pw_loop *l, struct pw_errbuf *err)
{
    enum pw_err rc = PW_OK;
    loop_beat(l);
    switch (l->phase) {
    case LOOP_FETCH: rc = loop_fetch(l, err); break;
    case LOOP_RUN: rc = loop_run(l, err); break;
    case LOOP_PUBLISH: rc = loop_publish(l, err); break;
    case LOOP_DRAIN: rc = loop_drain(l, err); break;
    case LOOP_FINISH: rc = loop_finish(l, err); break;
    case LOOP_DONE: break;
    }
    if (rc)
        l->phase = LOOP_DONE;
    return rc;
}

enum pw_err pw_loop_run(const struct pw_loop_ports *ports, const struct pw_loop_config *cfg,
                        struct pw_loop_stats *stats, struct pw_errbuf *err)
{
    struct pw_loop *l;
    enum pw_err rc = pw_loop_open(&l, ports, cfg, err);
    while (!rc && !pw_loop_done(l))
        rc = pw_loop_step(l, err);
    if (l && stats)
        pw_loop_stats(l, stats);
    pw_loop_close(l);
    return rc;
}
