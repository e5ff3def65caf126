/*
 * The Kafka worker: the driving adapter. One thread, one loop: fill a
 * batch, run it, publish, repeat.
 *
 * The path of a batch: poll up to batch_size messages (waiting at most
 * batch_wait_ms after the first); decode each (batch_kafka.c), malformed
 * ones included; hand them to the application, which runs them in one
 * unit of work, recording events and dead letters in the outbox with the
 * processed marks and the partitions' next offsets; then publish.
 *
 * Publishing overlaps the next batch. After batch N commits, the worker
 * asks the application to confirm the round in flight and send batch N's
 * rows without waiting (PW_PUBLISH_START), keeps N's offsets pending, and
 * goes on to read and run batch N+1 while the broker acknowledges. The
 * next publish call confirms N's round, and only then are N's offsets
 * committed to the group: by the service's acknowledgement rule, an offset
 * is committed only once every outcome before it is durable and published.
 * When idle, on a revocation and on a stop it publishes everything and
 * waits (PW_PUBLISH_ALL). On PostgreSQL the offsets are stored with the
 * data as well, so the group commit only saves rereading; on the in-memory
 * store it is what a restart resumes from.
 *
 * A dependency that is down stalls the batch with capped exponential
 * backoff (ports/backoff.h), never skips it: the same batch (the same seq
 * for the service) runs again, and what it finished stays finished.
 *
 * The consumer, its rebalances (on assignment each partition starts at the
 * offset stored with the data) and the waits are in consumer_kafka.c. A
 * replay assigns partitions itself (span_kafka.c) and stops at the end as
 * it was when it started.
 */
#include "adapters/kafka/worker_kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kafka/kworker.h"
#include "adapters/kafka/observe_kafka.h"

/*
 * Light traffic gets a line per message, so a person trying it out sees
 * each one; heavy traffic gets a progress line every few seconds instead.
 */
#define KW_LOG_EACH_MAX 8

/*
 * One pass over outcomes[0..n) of in[0..n): the counts, the metrics, the
 * log lines, and into stamps (if not NULL) the Kafka timestamps of the
 * commands whose events are on their way (for their latency); how many.
 */
static size_t kw_count_outcomes(struct kworker *kw, const struct pw_input *in,
                                const struct pw_outcome *outs, size_t n, int64_t *stamps)
{
    bool each = n <= KW_LOG_EACH_MAX;
    size_t nstamps = 0;
    for (size_t i = 0; i < n; i++) {
        const struct pw_outcome *out = &outs[i];
        bool rejected = out->kind == PW_OUTCOME_REJECTED;
        kw->stats.applied += out->kind == PW_OUTCOME_APPLIED;
        kw->stats.duplicates += out->kind == PW_OUTCOME_DUPLICATE;
        kw->stats.held += out->kind == PW_OUTCOME_HELD;
        kw->stats.dead_letters += rejected;
        kw->stats.rejected += rejected && in[i].ready && in[i].decoded.code == PW_OK;
        kafka_observe_outcome(kw->m, out);
        if (stamps && out->kind == PW_OUTCOME_APPLIED && out->nevents &&
            in[i].origin.timestamp_ms >= 0)
            stamps[nstamps++] = in[i].origin.timestamp_ms;
        if (rejected ? kafka_talk_admit(&kw->talk, kw->s) : each)
            kafka_log_outcome(kw->s, &in[i], out, each);
    }
    return nstamps;
}

/* The progress line and the end of a warning window (observe_kafka.c). */
static void kw_progress(struct kworker *kw)
{
    kafka_talk_tick(&kw->talk, kw->s, &kw->stats);
}

/* Commits offs[0..n) to the group, or advances a replay's span. */
static void kw_commit(struct kworker *kw, const struct pw_offset *offs, size_t n)
{
    if (!n)
        return;
    if (kw_replaying(kw)) {
        for (size_t k = 0; k < n; k++)
            kafka_span_seen(&kw->span, offs[k].partition, offs[k].next);
        return;
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t k = 0; k < n; k++)
        rd_kafka_topic_partition_list_add(list, offs[k].topic, offs[k].partition)->offset =
            offs[k].next;
    rd_kafka_resp_err_t e = rd_kafka_commit(kw->rk, list, 0);
    if (e) /* Harmless for correctness: the offsets are stored with the data too. */
        kafka_log(kw->s, "info", "offset commit to the group failed (%s); the stored offsets stand",
                  rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(list);
}

/*
 * Publishes what committed, waiting out a broker that is down, and commits
 * the offsets whose rows are now confirmed. sync: everything, now (idle, a
 * revocation, a stop). Otherwise the overlap: confirm the last batch's
 * round and leave this batch's on its way, with cur, its offsets, pending.
 */
enum pw_err kw_publish(struct kworker *kw, const struct pw_offset *cur, size_t ncur,
                              size_t nstamps, bool sync, struct pw_errbuf *err)
{
    struct pw_publish_result res = {0};
    enum pw_publish_mode mode = sync ? PW_PUBLISH_ALL : PW_PUBLISH_START;
    for (unsigned attempt = 0;; attempt++) {
        enum pw_err rc = pw_service_publish(kw->svc, mode, &res, err);
        kw->stats.published += res.confirmed;
        pw_metric_add(&kw->m->events_published, res.events);
        if (!rc)
            break;
        if (!pw_err_is_transient(rc) ||
            !kw_wait(kw, "publishing", PW_M_RETRY_PUBLISH, attempt, err))
            return rc;
    }
    kw_recovered(kw);
    if (res.confirmed)
        kw_up(kw, PW_M_KAFKA, true); /* the broker acknowledged */
    kw_commit(kw, kw->pending, kw->npending); /* confirmed by the call above */
    kw->npending = 0;
    /* The last batch's events are acknowledged: its commands' latency is known. */
    kafka_observe_latency(kw->m, kw->stamps, kw->npending_stamps);
    kw->npending_stamps = 0;
    if (res.more) /* more than one round waits: publish it all, now */
        return kw_publish(kw, cur, ncur, nstamps, true, err);
    if (sync) {
        kw_commit(kw, cur, ncur);
        kafka_observe_latency(kw->m, kw->stamps_next, nstamps);
    } else {
        memcpy(kw->pending, cur, ncur * sizeof *cur);
        kw->npending = ncur;
        int64_t *t = kw->stamps; /* the batch in hand's stamps become the pending ones */
        kw->stamps = kw->stamps_next;
        kw->stamps_next = t;
        kw->npending_stamps = nstamps;
    }
    return PW_OK;
}

/*
 * Runs held commands whose post drains, a round at a time, until none
 * waits. A dependency that is down ends it for now: the next probe, or
 * the next batch that resolves a parked post, drains again.
 */
static enum pw_err kw_drain(struct kworker *kw, struct pw_errbuf *err)
{
    for (;;) {
        const struct pw_input *in;
        const struct pw_outcome *outs;
        size_t n;
        enum pw_err rc = pw_service_drain(kw->svc, kafka_batch_decode_one, &in, &outs, &n, err);
        kw_count_outcomes(kw, in, outs, n, NULL);
        if (rc)
            return pw_err_is_transient(rc) ? PW_OK : rc;
        if (!n)
            return PW_OK;
    }
}

/*
 * Runs the batch in hand to the end. PW_OK when it is done and committed;
 * PW_E_TRANSIENT when a stop came while a dependency was down (the batch is
 * dropped uncommitted, to be redelivered); a fatal code otherwise.
 */
enum pw_err kw_run_batch(struct kworker *kw, struct pw_errbuf *err)
{
    struct kafka_batch *b = &kw->batch;
    if (!b->n)
        return PW_OK;
    enum pw_err rc = PW_OK;
    kafka_batch_prepare(b, kw->s->group, kw->s->commands_topic);
    /* A replay stores no offsets: it must not move the group's position. */
    struct pw_batch run = {.seq = ++kw->seq, .in = b->in, .n = b->n,
                           .decode = kafka_batch_decode_one, .offsets = b->offsets,
                           .noffsets = kw_replaying(kw) ? 0 : b->noffsets, .outs = b->outs};
    long long started = kafka_now_us();
    for (unsigned attempt = 0; !rc; attempt++) {
        rc = pw_service_run(kw->svc, &run, err); /* the same seq: what is done stays done */
        kw_up(kw, PW_M_STORE, !pw_err_is_transient(rc));
        if (!rc || !pw_err_is_transient(rc) ||
            !kw_wait(kw, "a batch", PW_M_RETRY_BATCH, attempt, err))
            break;
        rc = PW_OK; /* waited out: run the same batch again */
    }
    if (!rc) {
        pw_histogram_observe(&kw->m->batch_duration, (double)(kafka_now_us() - started) / 1e6);
        kw_recovered(kw);
        kw->stats.consumed += b->n;
        kw->stats.batches++;
        size_t nstamps = kw_count_outcomes(kw, b->in, b->outs, b->n, kw->stamps_next);
        rc = kw_publish(kw, b->offsets, b->noffsets, nstamps, false, err);
    }
    kafka_batch_drop(b);
    if (!rc && run.resolved) /* held commands wait behind what this batch ran: now */
        rc = kw_drain(kw, err);
    return rc;
}

/* Fills the batch: up to batch_size messages, waiting at most batch_wait_ms after the first. */
static enum pw_err kw_fill(struct kworker *kw, struct pw_errbuf *err)
{
    struct kafka_batch *b = &kw->batch;
    long long deadline = 0;
    while (!kafka_batch_full(b) && !kw_stopping(kw) && !kw->fatal) {
        int timeout = 100;
        if (b->n) {
            long long left = deadline - kafka_now_ms();
            if (left <= 0)
                break;
            timeout = left < 100 ? (int)left : 100;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(kw->rk, timeout);
        kw_beat(kw);
        if (!m) {
            if (!b->n)
                break; /* idle: the caller publishes, and a replay checks if it is done */
            continue;
        }
        if (m->err) {
            rd_kafka_resp_err_t e = m->err;
            if (e == RD_KAFKA_RESP_ERR__PARTITION_EOF && kw_replaying(kw))
                kafka_span_seen(&kw->span, m->partition, m->offset);
            rd_kafka_message_destroy(m);
            if (e == RD_KAFKA_RESP_ERR__PARTITION_EOF)
                continue;
            if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || e == RD_KAFKA_RESP_ERR__TRANSPORT)
                kw_up(kw, PW_M_KAFKA, false);
            char errstr[256];
            if (rd_kafka_fatal_error(kw->rk, errstr, sizeof errstr))
                return pw_err_set(err, PW_E_FATAL, "the consumer failed for good: %s", errstr);
            kafka_log(kw->s, "warn", "consumer: %s", rd_kafka_err2str(e));
            continue;
        }
        kw_up(kw, PW_M_KAFKA, true);
        if (kw_replaying(kw) && kafka_span_skip(&kw->span, m)) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (!b->n)
            deadline = kafka_now_ms() + kw->o->batch_wait_ms;
        enum pw_err rc = kafka_batch_add(b, m, err);
        if (rc)
            return rc;
    }
    return kw->fatal ? pw_err_set(err, kw->fatal, "%s", kw->fatal_err.msg) : PW_OK;
}

/* The loop until a stop, the end of a replay, or a fatal error. */
static enum pw_err kw_loop(struct kworker *kw, struct pw_errbuf *err)
{
    /* Publish what an earlier run left in the outbox before taking new work. */
    enum pw_err rc = kw_publish(kw, NULL, 0, 0, true, err);
    while (!rc && !kw_stopping(kw)) {
        kw_beat(kw);
        /* A post released by hand (postworker release) drains within a probe's time. */
        if (kw_probe(kw) && !kw_replaying(kw) && (rc = kw_drain(kw, err)))
            break;
        kw_progress(kw);
        if (kw_replaying(kw) && kafka_span_done(&kw->span))
            break;
        if ((rc = kw_fill(kw, err)))
            break;
        /*
         * Idle, publish what other workers (whose relay this may be) or an
         * earlier run committed; a peek with nothing new costs no query.
         */
        rc = kw->batch.n ? kw_run_batch(kw, err) : kw_publish(kw, NULL, 0, 0, true, err);
        if (rc && pw_err_is_transient(rc) && kw_stopping(kw))
            rc = PW_OK; /* stopped during an outage: redelivered, never lost */
    }
    /* A clean stop: the last batch's rows confirmed and its offsets committed. */
    if (!rc)
        rc = kw_publish(kw, NULL, 0, 0, true, err);
    if (rc && pw_err_is_transient(rc) && kw_stopping(kw))
        rc = PW_OK;
    return rc;
}

enum pw_err pw_kafka_worker_run(const struct pw_kafka_worker_opts *opts, struct pw_service *svc,
                                struct pw_errbuf *err)
{
    struct kworker kw = {.log = {opts->settings, "consumer"}, .s = opts->settings, .o = opts,
                         .svc = svc};
    kw.m = opts->metrics;
    if (!kw.m) {
        pw_metrics_init(&kw.own_metrics, "", "");
        kw.m = &kw.own_metrics;
    }
    enum pw_err rc = kafka_batch_init(&kw.batch, opts->batch_size, err);
    if (!rc && (!(kw.pending = calloc(kw.batch.cap, sizeof *kw.pending)) ||
                !(kw.stamps = calloc(kw.batch.cap, sizeof *kw.stamps)) ||
                !(kw.stamps_next = calloc(kw.batch.cap, sizeof *kw.stamps_next))))
        rc = pw_err_set(err, PW_E_NOMEM, "out of memory for a batch of %zu", kw.batch.cap);
    if (!rc)
        rc = kw_open(&kw, err);
    if (!rc && kw_replaying(&kw)) { /* its partitions are its own from the start */
        atomic_store(&kw.m->joined, true);
        kw_up(&kw, PW_M_KAFKA, true);
    }
    if (!rc)
        rc = kw_loop(&kw, err);
    kw_close(&kw);
    if (!rc && kw.fatal)
        rc = pw_err_set(err, kw.fatal, "%s", kw.fatal_err.msg);
    if (opts->stats)
        *opts->stats = kw.stats;
    return rc;
}
