/*
 * The Kafka worker's consumer: its set-up and subscription (or a replay's
 * own assignment), its rebalances, and the waits for a dependency that is
 * down. Rebalances use the eager protocol, and librdkafka calls back from
 * inside the poll, in the middle of filling a batch: on revocation the
 * callback runs the batch in hand and publishes everything while the
 * partitions are still ours (errors come back through kw->fatal).
 */
#include "adapters/kafka/kworker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kafka/observe_kafka.h"
#include "ports/backoff.h"

/*
 * Every few seconds: lag, outbox and parking (observe_kafka.c), which also
 * probes the store; true when it probed.
 */
bool kw_probe(struct kworker *kw)
{
    long long now = kafka_now_ms();
    if (now < kw->next_probe_ms)
        return false;
    kw->next_probe_ms = now + KW_PROBE_MS;
    kafka_observe_probe(kw->m, kw_replaying(kw) ? NULL : kw->rk, kw->svc);
    /* An idle consumer hears nothing when the broker comes back: ask it. */
    if (!atomic_load(&kw->m->dependency_up[PW_M_KAFKA])) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(kw->rk, 0, NULL, &md, 500) == RD_KAFKA_RESP_ERR_NO_ERROR)
            kw_up(kw, PW_M_KAFKA, true);
        if (md)
            rd_kafka_metadata_destroy(md);
    }
    return true;
}

/*
 * Says that a dependency is down, then again at least once a minute while
 * it stays down (not once per retry), and waits; false if a stop came
 * meanwhile.
 */
bool kw_wait(struct kworker *kw, const char *what, enum pw_metric_retry kind,
                    unsigned attempt, const struct pw_errbuf *err)
{
    long long now = kafka_now_ms();
    kw_beat(kw); /* waiting out a dependency is not being stuck */
    pw_metric_add(&kw->m->retries[kind], 1);
    /* Which one is down: the probe asks the store; if it answers, publishing waits for Kafka. */
    kw_probe(kw);
    if (kind == PW_M_RETRY_PUBLISH && atomic_load(&kw->m->dependency_up[PW_M_STORE]))
        kw_up(kw, PW_M_KAFKA, false);
    int repeat = kw->o->wait_repeat_ms > 0 ? kw->o->wait_repeat_ms : 60000;
    if (!kw->waiting) {
        kafka_log(kw->s, "warn", "%s failed, retrying with backoff until it works: %s", what,
                  err->msg);
        kw->waiting_since_ms = kw->waiting_said_ms = now;
    } else if (now - kw->waiting_said_ms >= repeat) {
        kafka_log(kw->s, "warn", "still waiting after %lld s: %s failed: %s",
                  (now - kw->waiting_since_ms) / 1000, what, err->msg);
        kw->waiting_said_ms = now;
    }
    kw->waiting = true;
    return pw_backoff_sleep(attempt, kw->o->stop);
}

void kw_recovered(struct kworker *kw)
{
    if (!kw->waiting)
        return;
    kw->waiting = false;
    kafka_log(kw->s, "info", "recovered after %lld s", (kafka_now_ms() - kw->waiting_since_ms) / 1000);
}

/*
 * Starts each assigned partition at its offset stored with the data, the
 * truth wherever one exists: after a database restored from a backup, the
 * worker applies again everything after it, whatever the group committed.
 * The group's committed offset only stands in where the store has none
 * (the in-memory store after a restart, a new database).
 */
static void kw_assign(struct kworker *kw, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t e = rd_kafka_committed(kw->rk, committed, 10000);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t stored = -1, start = -1;
        struct pw_errbuf err;
        for (unsigned attempt = 0; pw_service_position(kw->svc, kw->s->group, p->topic,
                                                       p->partition, &stored, &err) != PW_OK;
             attempt++)
            if (!kw_wait(kw, "reading the stored offsets", PW_M_RETRY_BATCH, attempt, &err))
                break;
        if (stored >= 0)
            start = stored;
        else if (!e && committed->elems[i].offset >= 0)
            start = committed->elems[i].offset;
        if (start >= 0) {
            p->offset = start;
            kafka_check_retention(kw->s, kw->rk, p->topic, p->partition, start);
        }
    }
    rd_kafka_topic_partition_list_destroy(committed);
    pw_metric_add(&kw->m->assigns, 1);
    atomic_store(&kw->m->joined, true);
    kw_up(kw, PW_M_KAFKA, true);
    kafka_log(kw->s, "info", "assigned %d partitions of '%s'", parts->cnt, kw->s->commands_topic);
}

void kw_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct kworker *kw = opaque;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        kw_assign(kw, parts);
        rd_kafka_assign(rk, parts);
        return;
    }
    if (e == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        /* Finish the batch in hand, and its rows, while its partitions are still ours. */
        pw_metric_add(&kw->m->revokes, 1);
        enum pw_err rc = kw_run_batch(kw, &kw->fatal_err);
        if (!rc)
            rc = kw_publish(kw, NULL, 0, 0, true, &kw->fatal_err);
        if (rc && !pw_err_is_transient(rc))
            kw->fatal = rc;
        /* Offsets not committed by now are for partitions no longer ours. */
        kw->npending = 0;
        kw->npending_stamps = 0;
        kafka_observe_no_lag(kw->m);
        kafka_log(kw->s, "info", "partitions revoked");
    }
    rd_kafka_assign(rk, NULL);
}

enum pw_err kw_open(struct kworker *kw, struct pw_errbuf *err)
{
    char prefetch[16];
    snprintf(prefetch, sizeof prefetch, "%d",
             kw->o->prefetch_kbytes > 0 ? kw->o->prefetch_kbytes : KAFKA_CONSUMER_QUEUE_KBYTES);
    const char *const defaults[] = {
        "group.id", kw->s->group,
        "enable.auto.commit", "false",
        "enable.auto.offset.store", "false",
        "auto.offset.reset", "earliest",
        "enable.partition.eof", kw_replaying(kw) ? "true" : "false",
        "queued.max.messages.kbytes", prefetch,
        NULL,
    };
    rd_kafka_conf_t *conf = kafka_conf_new(kw->s, defaults, kw, err);
    if (!conf)
        return err->code;
    if (!kw_replaying(kw))
        rd_kafka_conf_set_rebalance_cb(conf, kw_rebalance);
    char errstr[256];
    kw->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!kw->rk) {
        rd_kafka_conf_destroy(conf);
        return pw_err_set(err, PW_E_USAGE, "cannot start the consumer: %s", errstr);
    }
    rd_kafka_poll_set_consumer(kw->rk);
    if (kw_replaying(kw)) {
        enum pw_err rc = kafka_span_assign(&kw->span, kw->rk, kw->s->commands_topic,
                                           kw->s->brokers, kw->o->start, kw->o->start_offset,
                                           kw->o->start_time_ms, err);
        if (!rc && kw->o->start == PW_START_TIME)
            kafka_log(kw->s, "info", "%s",
                      kw->span.looked_up
                          ? "replay by time: the broker looked up where each partition starts"
                          : "replay by time: the broker gave no offsets for that time; reading "
                            "each partition from its start and skipping older messages");
        return rc;
    }
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, kw->s->commands_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(kw->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e)
        return pw_err_set(err, PW_E_USAGE, "cannot subscribe to '%s': %s", kw->s->commands_topic,
                          rd_kafka_err2str(e));
    return PW_OK;
}

void kw_close(struct kworker *kw)
{
    if (kw->rk) {
        if (!kw_replaying(kw))
            rd_kafka_consumer_close(kw->rk); /* leaves the group; revokes through the callback */
        rd_kafka_destroy(kw->rk);
    }
    kafka_batch_release(&kw->batch);
    kafka_span_release(&kw->span);
    free(kw->pending);
    free(kw->stamps);
    free(kw->stamps_next);
}

