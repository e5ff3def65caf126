/*
 * The Kafka worker. One thread, one loop: fill a batch, run it, repeat.
 *
 * Running a batch: decode every message; dispatch the decoded commands in
 * one unit of work, whose before-commit hook sends the batch's dead letters
 * and waits for the broker to acknowledge them; relay the committed events;
 * then commit the offsets. So an offset is committed only once the outcome
 * of every message before it is durable, and a dependency that is down
 * stalls the batch (with capped exponential backoff) rather than skipping it.
 *
 * Rebalances use the eager protocol: on revocation the callback runs the
 * batch in hand before the partitions go; on assignment each partition
 * starts at the later of the offset stored with the data and the one
 * committed to the group.
 */
#include "adapters/kafka/worker_kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/kafka/cloudevents.h"
#include "adapters/kafka/conf.h"

#define KW_MAX_CE_HEADERS 16
#define KW_BACKOFF_MIN_MS 100
#define KW_BACKOFF_MAX_MS 5000

struct kworker {
    const struct pw_kafka_settings *s; /* first: the log callback finds it here */
    const struct pw_kafka_worker_opts *o;
    struct pw_service *svc;
    rd_kafka_t *rk;  /* the consumer */
    rd_kafka_t *dlq; /* the dead-letter producer */
    size_t cap;
    rd_kafka_message_t **msgs;
    size_t nmsgs;
    struct pw_errbuf *derr; /* per message: why it did not decode, or PW_OK */
    struct pw_cmd *cmds;
    size_t *cmd_msg; /* per command: its message */
    size_t ncmds;
    struct pw_outcome *outs;
    struct pw_offset *offsets;
    size_t noffsets;
    struct pw_offset *pending; /* the last batch's offsets, its events not yet confirmed */
    size_t npending;
    unsigned dlq_failed;
    rd_kafka_resp_err_t dlq_last;
    struct pw_kafka_worker_stats stats;
    bool waiting;        /* a dependency is down and that was logged */
    long long last_progress_ms;
    enum pw_err fatal;   /* set by a callback that cannot return it */
    struct pw_errbuf fatal_err;
    int32_t nparts;      /* replay: the topic's partitions */
    int64_t *replay_end; /* replay: per partition, the end when it started */
    int64_t *replay_pos; /* replay: per partition, the next offset to run */
    bool *replay_filter; /* replay by time: skip messages stamped before it here */
};

static bool kw_stopping(const struct kworker *kw)
{
    return *kw->o->stop != 0;
}

/* Sleeps for attempt's backoff in short slices; false if a stop came meanwhile. */
static bool kw_backoff(struct kworker *kw, unsigned attempt)
{
    long ms = KW_BACKOFF_MIN_MS;
    for (unsigned i = 0; i < attempt && ms < KW_BACKOFF_MAX_MS; i++)
        ms *= 2;
    if (ms > KW_BACKOFF_MAX_MS)
        ms = KW_BACKOFF_MAX_MS;
    for (long slept = 0; slept < ms; slept += 50) {
        if (kw_stopping(kw))
            return false;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return !kw_stopping(kw);
}

/* Logs a dependency going down once, not once per retry. */
static void kw_waiting(struct kworker *kw, const char *what, const struct pw_errbuf *err)
{
    if (kw->waiting)
        return;
    kw->waiting = true;
    kafka_log(kw->s, "warn", "%s failed, retrying with backoff until it works: %s", what, err->msg);
}

static void kw_recovered(struct kworker *kw)
{
    if (!kw->waiting)
        return;
    kw->waiting = false;
    kafka_log(kw->s, "info", "recovered: the batch went through");
}

/* The ce_ headers of m, borrowed from it, for the codec. */
static size_t kw_ce_headers(rd_kafka_message_t *m, struct pw_ce_header *out)
{
    rd_kafka_headers_t *hdrs;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    size_t n = 0;
    const char *name;
    const void *val;
    size_t size;
    for (size_t i = 0; n < KW_MAX_CE_HEADERS && !rd_kafka_header_get_all(hdrs, i, &name, &val, &size);
         i++)
        if (strncmp(name, "ce_", 3) == 0)
            out[n++] = (struct pw_ce_header){name, val, size};
    return n;
}

static void kw_decode(struct kworker *kw)
{
    kw->ncmds = 0;
    for (size_t i = 0; i < kw->nmsgs; i++) {
        rd_kafka_message_t *m = kw->msgs[i];
        struct pw_ce_header hs[KW_MAX_CE_HEADERS];
        rd_kafka_timestamp_type_t tstype;
        int64_t ts = rd_kafka_message_timestamp(m, &tstype);
        struct pw_ce_message cm = {
            .value = m->payload ? m->payload : "",
            .len = m->len,
            .headers = hs,
            .nheaders = kw_ce_headers(m, hs),
            .timestamp = ts >= 0 ? ts * 1000 : PW_TIME_NONE,
        };
        pw_err_clear(&kw->derr[i]);
        if (pw_ce_decode_cmd(&cm, &kw->cmds[kw->ncmds], &kw->derr[i]) == PW_OK)
            kw->cmd_msg[kw->ncmds++] = i;
    }
}

/* The next offset of each partition in the batch, to store with its outcome. */
static void kw_offsets(struct kworker *kw)
{
    kw->noffsets = 0;
    for (size_t i = 0; i < kw->nmsgs; i++) {
        rd_kafka_message_t *m = kw->msgs[i];
        size_t k = 0;
        while (k < kw->noffsets && kw->offsets[k].partition != m->partition)
            k++;
        if (k == kw->noffsets)
            kw->offsets[kw->noffsets++] = (struct pw_offset){
                .topic = kw->s->commands_topic, .partition = m->partition, .next = 0};
        if (m->offset + 1 > kw->offsets[k].next)
            kw->offsets[k].next = m->offset + 1;
    }
}

static void kw_dlq_dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    struct kworker *kw = opaque;
    if (msg->err) {
        kw->dlq_failed++;
        kw->dlq_last = msg->err;
    }
}

/* Queues m for the dead-letter topic: its key, value and headers, plus ours. */
static enum pw_err kw_dlq_send(struct kworker *kw, rd_kafka_message_t *m, enum pw_err code,
                               const char *msg, struct pw_errbuf *err)
{
    rd_kafka_headers_t *orig = NULL;
    rd_kafka_headers_t *hdrs = rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR
                                   ? rd_kafka_headers_copy(orig)
                                   : rd_kafka_headers_new(6);
    char part[16], off[24];
    snprintf(part, sizeof part, "%d", (int)m->partition);
    snprintf(off, sizeof off, "%lld", (long long)m->offset);
    rd_kafka_header_add(hdrs, "dlq.error.kind", -1, pw_err_kind_name(pw_err_kind(code)), -1);
    rd_kafka_header_add(hdrs, "dlq.error.code", -1, pw_err_name(code), -1);
    rd_kafka_header_add(hdrs, "dlq.error.message", -1, msg, -1);
    rd_kafka_header_add(hdrs, "dlq.original.topic", -1, rd_kafka_topic_name(m->rkt), -1);
    rd_kafka_header_add(hdrs, "dlq.original.partition", -1, part, -1);
    rd_kafka_header_add(hdrs, "dlq.original.offset", -1, off, -1);
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            kw->dlq, RD_KAFKA_V_TOPIC(kw->s->dlq_topic), RD_KAFKA_V_KEY(m->key, m->key_len),
            RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (!e)
            return PW_OK; /* librdkafka owns hdrs now */
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_headers_destroy(hdrs);
            return pw_err_set(err, kafka_err(e), "cannot send a dead letter to '%s': %s",
                              kw->s->dlq_topic, rd_kafka_err2str(e));
        }
        rd_kafka_poll(kw->dlq, 100);
    }
}

/* The dispatcher's before-commit hook: every dead letter of the batch, acknowledged. */
static enum pw_err kw_dead_letters(void *arg, const struct pw_cmd *cmds,
                                   const struct pw_outcome *outs, size_t n, struct pw_errbuf *err)
{
    (void)cmds;
    struct kworker *kw = arg;
    enum pw_err rc = PW_OK;
    unsigned sent = 0;
    for (size_t i = 0; i < kw->nmsgs && !rc; i++)
        if (kw->derr[i].code != PW_OK) {
            rc = kw_dlq_send(kw, kw->msgs[i], kw->derr[i].code, kw->derr[i].msg, err);
            sent++;
        }
    for (size_t j = 0; j < n && !rc; j++)
        if (outs[j].kind == PW_OUTCOME_REJECTED) {
            rc = kw_dlq_send(kw, kw->msgs[kw->cmd_msg[j]], outs[j].err.code, outs[j].err.msg, err);
            sent++;
        }
    if (rc || !sent)
        return rc;
    kw->dlq_failed = 0;
    while (rd_kafka_outq_len(kw->dlq) > 0)
        rd_kafka_flush(kw->dlq, 100);
    if (kw->dlq_failed)
        return pw_err_set(err, PW_E_TRANSIENT, "%u dead letters were not delivered to '%s': %s",
                          kw->dlq_failed, kw->s->dlq_topic, rd_kafka_err2str(kw->dlq_last));
    return PW_OK;
}

/*
 * Light traffic gets a line per command, so a person trying it out sees each
 * one; heavy traffic gets a progress line every few seconds instead.
 */
#define KW_LOG_EACH_MAX 8
#define KW_PROGRESS_MS 5000

static void kw_log_outcomes(struct kworker *kw)
{
    bool each = kw->nmsgs <= KW_LOG_EACH_MAX;
    for (size_t i = 0; i < kw->nmsgs; i++)
        if (kw->derr[i].code != PW_OK) {
            kw->stats.dead_letters++;
            kafka_log(kw->s, "warn", "dead letter: partition %d offset %lld: %s: %s",
                      (int)kw->msgs[i]->partition, (long long)kw->msgs[i]->offset,
                      pw_err_name(kw->derr[i].code), kw->derr[i].msg);
        }
    for (size_t j = 0; j < kw->ncmds; j++) {
        const struct pw_outcome *out = &kw->outs[j];
        const struct pw_cmd *cmd = &kw->cmds[j];
        if (out->kind == PW_OUTCOME_APPLIED) {
            kw->stats.applied++;
            if (each && out->nevents)
                kafka_log(kw->s, "info", "applied %s '%s': %s '%s' version %lld",
                          pw_cmd_type_name(cmd->type), cmd->env.id,
                          pw_event_type_name(out->events[0].type), cmd->post_id,
                          (long long)out->events[0].post.version);
        } else if (out->kind == PW_OUTCOME_DUPLICATE) {
            kw->stats.duplicates++;
            if (each)
                kafka_log(kw->s, "info", "duplicate %s '%s' from '%s': already processed",
                          pw_cmd_type_name(cmd->type), cmd->env.id, cmd->env.source);
        } else if (out->kind == PW_OUTCOME_REJECTED) {
            kw->stats.rejected++;
            kw->stats.dead_letters++;
            kafka_log(kw->s, "warn", "rejected %s '%s' from '%s': %s: %s",
                      pw_cmd_type_name(cmd->type), cmd->env.id, cmd->env.source,
                      pw_err_name(out->err.code), out->err.msg);
        }
    }
    long long now = kafka_now_ms();
    if (!each && now - kw->last_progress_ms >= KW_PROGRESS_MS) {
        kw->last_progress_ms = now;
        kafka_log(kw->s, "info", "progress: %llu consumed, %llu applied, %llu duplicates, %llu rejected",
                  (unsigned long long)kw->stats.consumed, (unsigned long long)kw->stats.applied,
                  (unsigned long long)kw->stats.duplicates, (unsigned long long)kw->stats.rejected);
    }
}

static void kw_drop_batch(struct kworker *kw)
{
    for (size_t j = 0; j < kw->ncmds; j++)
        pw_cmd_release(&kw->cmds[j]);
    for (size_t i = 0; i < kw->nmsgs; i++)
        rd_kafka_message_destroy(kw->msgs[i]);
    kw->ncmds = kw->nmsgs = 0;
}

/* Commits offs[0..n) to the group, or advances a replay's position. */
static void kw_commit(struct kworker *kw, const struct pw_offset *offs, size_t n)
{
    if (!n)
        return;
    if (kw->o->start != PW_START_GROUP) {
        for (size_t k = 0; k < n; k++)
            if (offs[k].partition < kw->nparts)
                kw->replay_pos[offs[k].partition] = offs[k].next;
        return;
    }
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t k = 0; k < n; k++)
        rd_kafka_topic_partition_list_add(list, kw->s->commands_topic, offs[k].partition)->offset =
            offs[k].next;
    rd_kafka_resp_err_t e = rd_kafka_commit(kw->rk, list, 0);
    if (e) /* Harmless for correctness: the offsets are stored with the data too. */
        kafka_log(kw->s, "info", "offset commit to the group failed (%s); the stored offsets stand",
                  rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(list);
}

/*
 * Publishes the committed events, waiting out a broker that is down, and
 * commits the offsets whose events are confirmed. sync: everything, now
 * (idle, a revocation, a stop). Otherwise the overlap that throughput comes
 * from: confirm the previous batch's round, whose acknowledgement was on its
 * way while this batch was read and dispatched, and leave this batch's round
 * pending, with cur, its offsets, until the next call.
 */
static enum pw_err kw_publish(struct kworker *kw, const struct pw_offset *cur, size_t ncur,
                              bool sync, struct pw_errbuf *err)
{
    bool more = false;
    for (unsigned attempt = 0;; attempt++) {
        size_t n = 0;
        enum pw_err rc = sync ? pw_service_publish(kw->svc, &n, err)
                              : pw_service_publish_start(kw->svc, &n, &more, err);
        kw->stats.published += n;
        if (!rc)
            break;
        if (!pw_err_is_transient(rc))
            return rc;
        kw_waiting(kw, "publishing events", err);
        if (!kw_backoff(kw, attempt))
            return rc;
    }
    kw_recovered(kw);
    kw_commit(kw, kw->pending, kw->npending); /* confirmed by the call above */
    kw->npending = 0;
    if (more)
        return kw_publish(kw, cur, ncur, true, err);
    if (sync) {
        kw_commit(kw, cur, ncur);
    } else {
        memcpy(kw->pending, cur, ncur * sizeof *cur);
        kw->npending = ncur;
    }
    return PW_OK;
}

/*
 * Runs the batch in hand to the end. PW_OK when it is done and committed;
 * PW_E_TRANSIENT when a stop came while a dependency was down (the batch is
 * dropped uncommitted, to be redelivered); a fatal code otherwise.
 */
static enum pw_err kw_run_batch(struct kworker *kw, struct pw_errbuf *err)
{
    if (!kw->nmsgs)
        return PW_OK;
    kw_decode(kw);
    kw_offsets(kw);
    bool store_offsets = kw->o->start == PW_START_GROUP;
    enum pw_err rc;
    for (unsigned attempt = 0;; attempt++) {
        rc = pw_service_run(kw->svc, kw->cmds, kw->ncmds, store_offsets ? kw->offsets : NULL,
                            store_offsets ? kw->noffsets : 0, kw->outs, kw_dead_letters, kw, err);
        if (!rc)
            break;
        for (size_t j = 0; j < kw->ncmds; j++)
            pw_outcome_release(&kw->outs[j]);
        if (!pw_err_is_transient(rc) || (kw_waiting(kw, "a batch", err), !kw_backoff(kw, attempt))) {
            kw_drop_batch(kw);
            return rc;
        }
    }
    kw_recovered(kw);
    kw->stats.consumed += kw->nmsgs;
    kw->stats.batches++;
    kw_log_outcomes(kw);
    for (size_t j = 0; j < kw->ncmds; j++)
        pw_outcome_release(&kw->outs[j]);
    rc = kw_publish(kw, kw->offsets, kw->noffsets, false, err);
    kw_drop_batch(kw);
    return rc;
}

/* Starts each assigned partition at the later of the stored and committed offsets. */
static void kw_assign(struct kworker *kw, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t e = rd_kafka_committed(kw->rk, committed, 10000);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t stored = -1, start = -1;
        struct pw_errbuf err;
        for (unsigned attempt = 0;
             pw_service_position(kw->svc, p->topic, p->partition, &stored, &err) != PW_OK;
             attempt++) {
            kw_waiting(kw, "reading the stored offsets", &err);
            if (!kw_backoff(kw, attempt))
                break;
        }
        if (!e && committed->elems[i].offset >= 0)
            start = committed->elems[i].offset;
        if (stored > start)
            start = stored;
        if (start >= 0)
            p->offset = start;
    }
    rd_kafka_topic_partition_list_destroy(committed);
    kafka_log(kw->s, "info", "assigned %d partitions of '%s'", parts->cnt, kw->s->commands_topic);
}

static void kw_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct kworker *kw = opaque;
    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        kw_assign(kw, parts);
        rd_kafka_assign(rk, parts);
        return;
    }
    if (e == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        /* Finish the batch in hand, and its events, while its partitions are still ours. */
        enum pw_err rc = kw_run_batch(kw, &kw->fatal_err);
        if (!rc)
            rc = kw_publish(kw, NULL, 0, true, &kw->fatal_err);
        if (rc && !pw_err_is_transient(rc))
            kw->fatal = rc;
        kafka_log(kw->s, "info", "partitions revoked");
    }
    rd_kafka_assign(rk, NULL);
}

/*
 * A replay by time skips, where the broker could not say which offset the
 * time falls on, the messages stamped before it (and counts them as read).
 */
static bool kw_before_start(struct kworker *kw, const rd_kafka_message_t *m)
{
    if (kw->o->start != PW_START_TIME || m->partition >= kw->nparts ||
        !kw->replay_filter[m->partition])
        return false;
    rd_kafka_timestamp_type_t tstype;
    if (rd_kafka_message_timestamp(m, &tstype) >= kw->o->start_time_ms)
        return false;
    kw->replay_pos[m->partition] = m->offset + 1;
    return true;
}

/* Fills the batch: up to batch_size messages, waiting at most batch_wait_ms after the first. */
static enum pw_err kw_fill(struct kworker *kw, struct pw_errbuf *err)
{
    long long deadline = 0;
    while (kw->nmsgs < kw->cap && !kw_stopping(kw) && !kw->fatal) {
        int timeout = 100;
        if (kw->nmsgs) {
            long long left = deadline - kafka_now_ms();
            if (left <= 0)
                break;
            timeout = left < 100 ? (int)left : 100;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(kw->rk, timeout);
        if (!m) {
            if (!kw->nmsgs)
                break; /* idle: the caller publishes, and a replay checks if it is done */
            continue;
        }
        if (m->err) {
            rd_kafka_resp_err_t e = m->err;
            rd_kafka_message_destroy(m);
            if (e == RD_KAFKA_RESP_ERR__PARTITION_EOF)
                continue;
            char errstr[256];
            if (rd_kafka_fatal_error(kw->rk, errstr, sizeof errstr))
                return pw_err_set(err, PW_E_FATAL, "the consumer failed for good: %s", errstr);
            kafka_log(kw->s, "warn", "consumer: %s", rd_kafka_err2str(e));
            continue;
        }
        if (kw_before_start(kw, m)) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (kw->nmsgs == 0)
            deadline = kafka_now_ms() + kw->o->batch_wait_ms;
        kw->msgs[kw->nmsgs++] = m;
    }
    return kw->fatal ? pw_err_set(err, kw->fatal, "%s", kw->fatal_err.msg) : PW_OK;
}

/* A replay reads assigned partitions from its starting point to their end as of now. */
static enum pw_err kw_replay_assign(struct kworker *kw, struct pw_errbuf *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(kw->rk, kw->s->commands_topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(kw->rk, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    if (e || md->topic_cnt != 1 || md->topics[0].err) {
        rd_kafka_resp_err_t te = e ? e : md->topics[0].err;
        if (md)
            rd_kafka_metadata_destroy(md);
        return pw_err_set(err, kafka_err(te), "cannot read topic '%s' to replay it: %s",
                          kw->s->commands_topic, rd_kafka_err2str(te));
    }
    kw->nparts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    kw->replay_end = calloc((size_t)kw->nparts, sizeof *kw->replay_end);
    kw->replay_pos = calloc((size_t)kw->nparts, sizeof *kw->replay_pos);
    kw->replay_filter = calloc((size_t)kw->nparts, sizeof *kw->replay_filter);
    if (!kw->replay_end || !kw->replay_pos || !kw->replay_filter)
        return pw_err_set(err, PW_E_NOMEM, "out of memory planning the replay");
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(kw->nparts);
    for (int32_t p = 0; p < kw->nparts; p++) {
        int64_t lo = 0, hi = 0;
        e = rd_kafka_query_watermark_offsets(kw->rk, kw->s->commands_topic, p, &lo, &hi, 10000);
        if (e) {
            rd_kafka_topic_partition_list_destroy(parts);
            return pw_err_set(err, kafka_err(e), "cannot read the end of '%s' [%d]: %s",
                              kw->s->commands_topic, (int)p, rd_kafka_err2str(e));
        }
        kw->replay_end[p] = hi;
        int64_t start = lo;
        if (kw->o->start == PW_START_OFFSET)
            start = kw->o->start_offset > lo ? kw->o->start_offset : lo;
        rd_kafka_topic_partition_list_add(parts, kw->s->commands_topic, p)->offset =
            kw->o->start == PW_START_TIME ? kw->o->start_time_ms : start;
        kw->replay_pos[p] = start;
    }
    if (kw->o->start == PW_START_TIME) {
        e = rd_kafka_offsets_for_times(kw->rk, parts, 10000);
        for (int i = 0; !e && i < parts->cnt; i++) {
            rd_kafka_topic_partition_t *p = &parts->elems[i];
            /*
             * No offset: either nothing is that recent, or the broker cannot
             * look times up (librdkafka's mock cluster, the embedded broker,
             * cannot). Read from the start and skip what is older instead.
             */
            if (p->offset < 0 && kw->replay_pos[p->partition] < kw->replay_end[p->partition]) {
                p->offset = kw->replay_pos[p->partition];
                kw->replay_filter[p->partition] = true;
            } else if (p->offset < 0) {
                p->offset = kw->replay_end[p->partition];
            }
            kw->replay_pos[p->partition] = p->offset;
        }
    }
    if (!e)
        e = rd_kafka_assign(kw->rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (e)
        return pw_err_set(err, kafka_err(e), "cannot start the replay: %s", rd_kafka_err2str(e));
    return PW_OK;
}

static bool kw_replay_done(const struct kworker *kw)
{
    for (int32_t p = 0; p < kw->nparts; p++)
        if (kw->replay_pos[p] < kw->replay_end[p])
            return false;
    return true;
}

static enum pw_err kw_open(struct kworker *kw, struct pw_errbuf *err)
{
    const char *const consumer_defaults[] = {
        "group.id", kw->s->group,
        "enable.auto.commit", "false",
        "enable.auto.offset.store", "false",
        "auto.offset.reset", "earliest",
        "enable.partition.eof", kw->o->start == PW_START_GROUP ? "false" : "true",
        NULL,
    };
    static const char *const dlq_defaults[] = {
        "enable.idempotence", "true",
        "acks", "all",
        "linger.ms", "2",
        "message.timeout.ms", "30000",
        NULL,
    };
    char errstr[256];
    rd_kafka_conf_t *conf = kafka_conf_new(kw->s, dlq_defaults, kw, err);
    if (!conf)
        return err->code;
    rd_kafka_conf_set_dr_msg_cb(conf, kw_dlq_dr);
    kw->dlq = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!kw->dlq) {
        rd_kafka_conf_destroy(conf);
        return pw_err_set(err, PW_E_USAGE, "cannot start the dead-letter producer: %s", errstr);
    }
    /* Look the dead-letter topic up now: the first dead letter would otherwise wait for it. */
    rd_kafka_topic_t *dlq_topic = rd_kafka_topic_new(kw->dlq, kw->s->dlq_topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (dlq_topic && rd_kafka_metadata(kw->dlq, 0, dlq_topic, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    if (dlq_topic)
        rd_kafka_topic_destroy(dlq_topic);
    conf = kafka_conf_new(kw->s, consumer_defaults, kw, err);
    if (!conf)
        return err->code;
    if (kw->o->start == PW_START_GROUP)
        rd_kafka_conf_set_rebalance_cb(conf, kw_rebalance);
    kw->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!kw->rk) {
        rd_kafka_conf_destroy(conf);
        return pw_err_set(err, PW_E_USAGE, "cannot start the consumer: %s", errstr);
    }
    rd_kafka_poll_set_consumer(kw->rk);
    if (kw->o->start != PW_START_GROUP)
        return kw_replay_assign(kw, err);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, kw->s->commands_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(kw->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e)
        return pw_err_set(err, PW_E_USAGE, "cannot subscribe to '%s': %s", kw->s->commands_topic,
                          rd_kafka_err2str(e));
    return PW_OK;
}

static void kw_close(struct kworker *kw)
{
    if (kw->rk) {
        if (kw->o->start == PW_START_GROUP)
            rd_kafka_consumer_close(kw->rk); /* leaves the group; revokes through the callback */
        rd_kafka_destroy(kw->rk);
    }
    if (kw->dlq) {
        rd_kafka_flush(kw->dlq, 5000);
        rd_kafka_destroy(kw->dlq);
    }
    kw_drop_batch(kw);
    free(kw->msgs);
    free(kw->derr);
    free(kw->cmds);
    free(kw->cmd_msg);
    free(kw->outs);
    free(kw->offsets);
    free(kw->pending);
    free(kw->replay_end);
    free(kw->replay_pos);
    free(kw->replay_filter);
}

enum pw_err pw_kafka_worker_run(const struct pw_kafka_worker_opts *opts, struct pw_service *svc,
                                struct pw_errbuf *err)
{
    struct kworker kw = {.s = opts->settings, .o = opts, .svc = svc};
    kw.cap = opts->batch_size ? opts->batch_size : 1;
    kw.msgs = calloc(kw.cap, sizeof *kw.msgs);
    kw.derr = calloc(kw.cap, sizeof *kw.derr);
    kw.cmds = calloc(kw.cap, sizeof *kw.cmds);
    kw.cmd_msg = calloc(kw.cap, sizeof *kw.cmd_msg);
    kw.outs = calloc(kw.cap, sizeof *kw.outs);
    kw.offsets = calloc(kw.cap, sizeof *kw.offsets);
    kw.pending = calloc(kw.cap, sizeof *kw.pending);
    enum pw_err rc;
    if (!kw.msgs || !kw.derr || !kw.cmds || !kw.cmd_msg || !kw.outs || !kw.offsets || !kw.pending) {
        rc = pw_err_set(err, PW_E_NOMEM, "out of memory for a batch of %zu", kw.cap);
        goto out;
    }
    if ((rc = kw_open(&kw, err)))
        goto out;
    /* Publish what an earlier run left in the outbox before taking new work. */
    if ((rc = kw_publish(&kw, NULL, 0, true, err)))
        goto out;
    while (!kw_stopping(&kw)) {
        if (opts->start != PW_START_GROUP && kw_replay_done(&kw))
            break;
        if ((rc = kw_fill(&kw, err)))
            goto out;
        /*
         * Idle, publish what other workers (whose relay this may be) or an
         * earlier run committed; a peek with nothing new costs no query.
         */
        rc = kw.nmsgs ? kw_run_batch(&kw, err) : kw_publish(&kw, NULL, 0, true, err);
        if (rc && !(pw_err_is_transient(rc) && kw_stopping(&kw)))
            goto out;
        rc = PW_OK;
    }
    /* A clean stop: the last batch's events confirmed and its offsets committed. */
    rc = kw_publish(&kw, NULL, 0, true, err);
    if (rc && pw_err_is_transient(rc) && kw_stopping(&kw))
        rc = PW_OK; /* stopped during an outage: redelivered, never lost */
out:
    kw_close(&kw);
    if (!rc && kw.fatal)
        rc = pw_err_set(err, kw.fatal, "%s", kw.fatal_err.msg);
    if (opts->stats)
        *opts->stats = kw.stats;
    return rc;
}
