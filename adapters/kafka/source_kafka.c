/*
 * The Kafka source: the consumer, its rebalances and a replay's span.
 * Rebalances use the cooperative protocol unless -X names an eager
 * strategy. librdkafka calls back from inside the poll, in the middle of
 * filling a batch: the callback tells the loop's listener (which publishes
 * and commits while the partitions are still ours) and drops what it had
 * gathered of the revoked partitions, to be read again by their next owner.
 */
#include "adapters/kafka/source_kafka.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kafka/batch_kafka.h"
#include "adapters/kafka/conf.h"
#include "adapters/kafka/observe_kafka.h"
#include "adapters/kafka/span_kafka.h"

struct ksource {
    struct kafka_logctx log; /* first: the log callback finds it here */
    const struct pw_kafka_settings *s;
    struct pw_kafka_source_opts o;
    rd_kafka_t *rk;
    struct kafka_batch batch;
    struct kafka_span span;
    struct pw_source_listener listener;
    struct pw_metrics *m; /* o.metrics, or own_metrics */
    struct pw_metrics own_metrics;
    char failed[512]; /* a rebalance call that failed: the next fetch is fatal */
    bool assigned_once; /* an assignment came: the cooperative assignor has its state */
    int64_t starts[PW_METRICS_MAX_PARTITIONS]; /* where each assigned partition started; -1 */
    int64_t next[PW_METRICS_MAX_PARTITIONS];   /* after the last message read there; -1 */
    long long gap_checked_ms[PW_METRICS_MAX_PARTITIONS]; /* when ks_gap last asked the broker */
};

static bool ks_replaying(const struct ksource *k)
{
    return k->o.start != PW_START_GROUP;
}

static void ks_up(struct ksource *k, bool up)
{
    atomic_store_explicit(&k->m->dependency_up[PW_M_KAFKA], up, memory_order_relaxed);
}

static void ks_listen(void *self, const struct pw_source_listener *l)
{
    struct ksource *k = self;
    k->listener = *l;
}

/* parts as the port names them; NULL if memory runs out (the listener is then not told). */
static struct pw_partition *ks_parts(const rd_kafka_topic_partition_list_t *parts)
{
    struct pw_partition *v = calloc(parts->cnt ? (size_t)parts->cnt : 1, sizeof *v);
    for (int i = 0; v && i < parts->cnt; i++)
        v[i] = (struct pw_partition){.topic = parts->elems[i].topic,
                                     .partition = parts->elems[i].partition, .start = -1};
    return v;
}

/* Whether the group runs the cooperative (incremental) protocol. */
static bool ks_cooperative(rd_kafka_t *rk)
{
    return strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
}

/* A rebalance call that failed: fatal, said by the next fetch; the supervisor restarts us. */
static void ks_failed(struct ksource *k, const char *what, rd_kafka_error_t *e)
{
    if (!e)
        return;
    if (!k->failed[0])
        snprintf(k->failed, sizeof k->failed, "%s %s failed: %s", what,
                 k->s->commands_topic, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
}

/*
 * Each partition starts where the listener says (the offset stored with
 * the data), else at the group's committed offset, else (librdkafka's
 * auto.offset.reset) the earliest. Cooperative: parts are the partitions
 * added, and the others keep flowing.
 */
static void ks_assign(struct ksource *k, rd_kafka_topic_partition_list_t *parts)
{
    k->assigned_once = true;
    struct pw_partition *v = ks_parts(parts);
    if (v && k->listener.assigned)
        k->listener.assigned(k->listener.ctx, v, (size_t)parts->cnt);
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t e = rd_kafka_committed(k->rk, committed, 10000);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t start = v ? v[i].start : -1;
        if (start < 0 && !e && committed->elems[i].offset >= 0)
            start = committed->elems[i].offset;
        int64_t from = start;
        if (start >= 0) {
            p->offset = start;
            from = kafka_check_retention(k->s, k->rk, p->topic, p->partition, start);
        }
        if (p->partition >= 0 && p->partition < PW_METRICS_MAX_PARTITIONS) {
            k->starts[p->partition] = start;
            k->next[p->partition] = from; /* a loss found here is said here, once */
        }
    }
    rd_kafka_topic_partition_list_destroy(committed);
    free(v);
    ks_up(k, true);
    if (ks_cooperative(k->rk)) {
        ks_failed(k, "assigning partitions of", rd_kafka_incremental_assign(k->rk, parts));
        rd_kafka_topic_partition_list_t *all = NULL;
        int total = rd_kafka_assignment(k->rk, &all) ? -1 : all->cnt;
        if (all)
            rd_kafka_topic_partition_list_destroy(all);
        kafka_log(k->s, "info", "assigned %d partitions of '%s' (cooperative: %d in all)",
                  parts->cnt, k->s->commands_topic, total);
        return;
    }
    rd_kafka_resp_err_t ae = rd_kafka_assign(k->rk, parts);
    if (ae)
        ks_failed(k, "assigning partitions of", rd_kafka_error_new(ae, "%s", rd_kafka_err2str(ae)));
    kafka_log(k->s, "info", "assigned %d partitions of '%s'", parts->cnt, k->s->commands_topic);
}

/*
 * The eager protocol revokes everything and the batch gathered so far goes;
 * the cooperative one revokes some partitions, and only their messages go.
 */
static void ks_revoke(struct ksource *k, rd_kafka_topic_partition_list_t *parts)
{
    bool coop = ks_cooperative(k->rk);
    if (coop)
        kafka_batch_drop_of(&k->batch, parts);
    else
        kafka_batch_drop(&k->batch);
    struct pw_partition *v = ks_parts(parts);
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].partition >= 0 && parts->elems[i].partition < PW_METRICS_MAX_PARTITIONS)
            k->next[parts->elems[i].partition] = -1;
    bool lost = rd_kafka_assignment_lost(k->rk);
    if (v && k->listener.revoked)
        k->listener.revoked(k->listener.ctx, v, (size_t)parts->cnt, lost);
    free(v);
    kafka_log(k->s, "info", "%d partitions %s", parts->cnt, lost ? "lost" : "revoked");
    if (coop)
        ks_failed(k, "revoking partitions of", rd_kafka_incremental_unassign(k->rk, parts));
    else
        rd_kafka_assign(k->rk, NULL);
}

static void ks_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct ksource *k = opaque;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
        ks_assign(k, parts);
    else if (e == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        ks_revoke(k, parts);
    else
        rd_kafka_assign(rk, NULL);
}

/*
 * A message past the one expected: the broker's retention may have deleted
 * those between while the worker was behind or paused (librdkafka then
 * resets to the partition's start), and an operator must hear how many, as
 * at an assignment. Compaction and transaction markers leave gaps too: the
 * broker is asked at most every 10 s a partition, and says nothing of those.
 */
static void ks_gap(struct ksource *k, const rd_kafka_message_t *m)
{
    int32_t p = m->partition;
    if (p < 0 || p >= PW_METRICS_MAX_PARTITIONS)
        return;
    if (k->next[p] >= 0 && m->offset > k->next[p]) { /* the clock only for a gap */
        long long now = kafka_now_ms();
        if (now - k->gap_checked_ms[p] >= 10000) {
            k->gap_checked_ms[p] = now;
            kafka_check_retention(k->s, k->rk, rd_kafka_topic_name(m->rkt), p, k->next[p]);
        }
    }
    k->next[p] = m->offset + 1;
}

/* Fills the batch: up to max messages, waiting at most linger_ms after the first. */
static enum pw_err ks_fetch(void *self, size_t max, int linger_ms, struct pw_fetched *f,
                            struct pw_errbuf *err)
{
    struct ksource *k = self;
    struct kafka_batch *b = &k->batch;
    long long deadline = 0;
    size_t cap = max < b->cap ? max : b->cap;
    while (b->n < cap && !kafka_batch_full(b) && !(k->s->stop && *k->s->stop)) {
        if (ks_replaying(k) && kafka_span_done(&k->span))
            break;
        int timeout = 100;
        if (b->n) {
            long long left = deadline - kafka_now_ms();
            if (left <= 0)
                break;
            timeout = left < 100 ? (int)left : 100;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, timeout);
        if (k->failed[0]) {
            if (m)
                rd_kafka_message_destroy(m);
            kafka_batch_drop(b);
            return pw_err_set(err, PW_E_FATAL, "%s", k->failed);
        }
        if (!m) {
            if (!b->n)
                break; /* idle */
            continue;
        }
        if (m->err) {
            rd_kafka_resp_err_t e = m->err;
            if (e == RD_KAFKA_RESP_ERR__PARTITION_EOF && ks_replaying(k))
                kafka_span_seen(&k->span, m->partition, m->offset);
            rd_kafka_message_destroy(m);
            if (e == RD_KAFKA_RESP_ERR__PARTITION_EOF)
                continue;
            if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || e == RD_KAFKA_RESP_ERR__TRANSPORT)
                ks_up(k, false);
            char errstr[256];
            if (rd_kafka_fatal_error(k->rk, errstr, sizeof errstr)) {
                kafka_batch_drop(b);
                return pw_err_set(err, PW_E_FATAL, "the consumer failed for good: %s", errstr);
            }
            kafka_log(k->s, "warn", "consumer: %s", rd_kafka_err2str(e));
            continue;
        }
        ks_up(k, true);
        ks_gap(k, m);
        if (ks_replaying(k) && kafka_span_skip(&k->span, m)) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (!b->n)
            deadline = kafka_now_ms() + linger_ms;
        enum pw_err rc = kafka_batch_add(b, m, err);
        if (rc) {
            kafka_batch_drop(b);
            return rc;
        }
    }
    kafka_batch_prepare(b, k->s->group, k->s->commands_topic);
    f->in = b->in;
    f->n = b->n;
    f->end = ks_replaying(k) && kafka_span_done(&k->span);
    return PW_OK;
}

static void ks_release(void *self)
{
    struct ksource *k = self;
    kafka_batch_drop(&k->batch);
}

/*
 * Stores offs[0..n) for the group, or advances a replay's span. librdkafka
 * commits what is stored every second, when partitions are revoked and at
 * close, and never while the group rebalances: a commit then (librdkafka
 * 2.0, cooperative) fails on a stale generation and loses the whole
 * assignment (librdkafka issue 4059).
 */
static enum pw_err ks_commit(void *self, const struct pw_offset *offs, size_t n,
                             struct pw_errbuf *err)
{
    struct ksource *k = self;
    if (ks_replaying(k)) {
        for (size_t i = 0; i < n; i++)
            kafka_span_seen(&k->span, offs[i].partition, offs[i].next);
        return PW_OK;
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(list, offs[i].topic, offs[i].partition)->offset =
            offs[i].next;
    rd_kafka_resp_err_t e = rd_kafka_offsets_store(k->rk, list);
    for (int i = 0; !e && i < list->cnt; i++)
        e = list->elems[i].err;
    rd_kafka_topic_partition_list_destroy(list);
    if (e)
        return pw_err_set(err, PW_E_TRANSIENT, "storing offsets for the group: %s",
                          rd_kafka_err2str(e));
    return PW_OK;
}

/* The lag; and an idle consumer hears nothing when the broker comes back: ask it. */
static void ks_probe(void *self)
{
    struct ksource *k = self;
    if (!ks_replaying(k))
        kafka_observe_lag(k->m, k->rk, k->starts);
    if (atomic_load(&k->m->dependency_up[PW_M_KAFKA]) != 1) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(k->rk, 0, NULL, &md, 500) == RD_KAFKA_RESP_ERR_NO_ERROR)
            ks_up(k, true);
        if (md)
            rd_kafka_metadata_destroy(md);
    }
}

static void ks_close(void *self)
{
    struct ksource *k = self;
    if (k->rk) {
        /*
         * librdkafka 2.0 aborts (rdkafka_sticky_assignor.c: "Assertion
         * `assignor_state' failed") when it destroys a cooperative consumer
         * that joined but never received an assignment: a stop during its
         * first join. Fixed in librdkafka 2.3 (its issue 4312). Such a
         * consumer still leaves the group, and is then kept, not destroyed
         * (a few at most, and none in the common case).
         */
        bool risky = !ks_replaying(k) && !k->assigned_once && ks_cooperative(k->rk);
        if (!ks_replaying(k))
            rd_kafka_consumer_close(k->rk); /* leaves the group; revokes through the callback */
        if (risky && kafka_keep(k->rk)) {
            kafka_log(k->s, "info", "the consumer left its group before its first assignment; "
                      "it is kept, not destroyed (librdkafka 2.0 aborts on that)");
        } else {
            rd_kafka_destroy(k->rk);
        }
    }
    kafka_batch_release(&k->batch);
    kafka_span_release(&k->span);
    free(k);
}

static const struct pw_source_ops ks_ops = {
    .name = "kafka",
    .listen = ks_listen,
    .fetch = ks_fetch,
    .release = ks_release,
    .decode = kafka_batch_decode_one,
    .commit = ks_commit,
    .probe = ks_probe,
    .close = ks_close,
};

static enum pw_err ks_start(struct ksource *k, struct pw_errbuf *err)
{
    char prefetch[16];
    snprintf(prefetch, sizeof prefetch, "%d",
             k->o.prefetch_kbytes > 0 ? k->o.prefetch_kbytes : KAFKA_CONSUMER_QUEUE_KBYTES);
    const char *const defaults[] = {
        "group.id", k->s->group,
        /* What the loop stores (ks_commit) is committed in the background; a replay commits nothing. */
        "enable.auto.commit", ks_replaying(k) ? "false" : "true",
        "auto.commit.interval.ms", "1000",
        "enable.auto.offset.store", "false",
        "auto.offset.reset", "earliest",
        "enable.partition.eof", ks_replaying(k) ? "true" : "false",
        "queued.max.messages.kbytes", prefetch,
        /* A join or a leave moves only the partitions that change owner. */
        "partition.assignment.strategy", "cooperative-sticky",
        NULL,
    };
    rd_kafka_conf_t *conf = kafka_conf_new(k->s, RD_KAFKA_CONSUMER, defaults, k, err);
    if (!conf)
        return err->code;
    if (!ks_replaying(k))
        rd_kafka_conf_set_rebalance_cb(conf, ks_rebalance);
    char errstr[256];
    k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!k->rk) {
        rd_kafka_conf_destroy(conf);
        return pw_err_set(err, PW_E_USAGE, "cannot start the consumer: %s", errstr);
    }
    rd_kafka_poll_set_consumer(k->rk);
    if (ks_replaying(k)) {
        enum pw_err rc = kafka_span_assign(&k->span, k->rk, k->s->commands_topic, k->s->brokers,
                                           k->o.start, k->o.start_offset, k->o.start_time_ms, err);
        if (!rc && k->o.start == PW_START_TIME)
            kafka_log(k->s, "info", "%s",
                      k->span.looked_up
                          ? "replay by time: the broker looked up where each partition starts"
                          : "replay by time: the broker gave no offsets for that time; reading "
                            "each partition from its start and skipping older messages");
        return rc;
    }
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, k->s->commands_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(k->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e)
        return pw_err_set(err, PW_E_USAGE, "cannot subscribe to '%s': %s", k->s->commands_topic,
                          rd_kafka_err2str(e));
    return PW_OK;
}

enum pw_err pw_kafka_source_open(struct pw_source *src, const struct pw_kafka_source_opts *opts,
                                 struct pw_errbuf *err)
{
    *src = (struct pw_source){0};
    struct ksource *k = calloc(1, sizeof *k);
    if (!k)
        return pw_err_set(err, PW_E_NOMEM, "out of memory for the consumer");
    k->log = (struct kafka_logctx){opts->settings, "consumer"};
    k->s = opts->settings;
    k->o = *opts;
    k->m = opts->metrics;
    for (int i = 0; i < PW_METRICS_MAX_PARTITIONS; i++)
        k->starts[i] = k->next[i] = -1;
    if (!k->m) {
        pw_metrics_init(&k->own_metrics, "", "");
        k->m = &k->own_metrics;
    }
    enum pw_err rc = kafka_batch_init(&k->batch, opts->batch_size, err);
    if (!rc)
        rc = ks_start(k, err);
    if (rc) {
        ks_close(k);
        return rc;
    }
    *src = (struct pw_source){.ops = &ks_ops, .self = k};
    return PW_OK;
}
