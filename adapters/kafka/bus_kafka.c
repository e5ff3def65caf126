/*
 * The Kafka message bus: one idempotent producer (acks=all) for everything
 * that leaves through the outbox, events and dead letters alike, each to
 * the topic its row names. Ordering per post comes from three things
 * working together: the relay publishes in commit order, the key (post id)
 * picks one partition, and the idempotent producer neither reorders nor
 * duplicates within a partition across its own retries.
 *
 * flush waits until every queued message is settled, acknowledged or
 * failed, rather than giving up at a timeout: a message still queued would
 * go out anyway, and publishing it again on a premature "failure" only
 * makes duplicates. Settling is bounded by message.timeout.ms.
 *
 * A dead letter carries someone else's bytes, and the broker (or our own
 * producer's message.max.bytes) may refuse it as too large, for good. Then
 * it goes again without its value (dlq.value.dropped: the value's size),
 * and if that is refused too, without its key as well (dlq.key.dropped):
 * the dlq.original.* headers still say where to find both. Whether the
 * refusal comes at once or in the delivery report, one message never
 * blocks the outbox behind it.
 */
#include "adapters/kafka/bus_kafka.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kafka/cloudevents.h"
#include "adapters/kafka/conf.h"

/*
 * A dead letter's stage, as its msg_opaque, so that a delivery report can
 * send one the broker refused as too large again, smaller.
 */
enum kafka_dead_stage { KAFKA_DEAD_WHOLE, KAFKA_DEAD_NO_VALUE, KAFKA_DEAD_NO_KEY };
static const char kafka_dead_stages[3];

struct kafka_bus {
    struct kafka_logctx log; /* first: the log callback finds it here */
    rd_kafka_t *rk;
    unsigned failed; /* deliveries failed since the last flush */
    rd_kafka_resp_err_t last_err;
    char last_topic[PW_TOPIC_MAX + 1];
};

/*
 * Produces, waiting out a full local queue (unless from a delivery report,
 * which must not poll). librdkafka owns hdrs, and value if F_FREE, when
 * this returns 0; else hdrs is destroyed and value is still the caller's.
 */
static rd_kafka_resp_err_t kafka_bus_produce(struct kafka_bus *b, const char *topic,
                                             const void *key, size_t key_len, void *value,
                                             size_t len, int flags, rd_kafka_headers_t *hdrs,
                                             const void *opaque, bool may_poll)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            b->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
            RD_KAFKA_V_VALUE(value, len), RD_KAFKA_V_MSGFLAGS(flags), RD_KAFKA_V_HEADERS(hdrs),
            RD_KAFKA_V_OPAQUE((void *)opaque), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || !may_poll) {
            if (e)
                rd_kafka_headers_destroy(hdrs);
            return e;
        }
        /* The local queue is full: serve delivery reports until there is room. */
        rd_kafka_poll(b->rk, 100);
    }
}

/*
 * A refusal to publish is waited out, whatever it is (a topic we may not
 * write, one that does not exist yet, a message it will not take): an
 * operator can mend each, and nothing may be skipped meanwhile. The worker
 * says what it waits for, again at least once a minute. Only a producer
 * that failed for good is fatal.
 */
static enum pw_err kafka_bus_failed(struct kafka_bus *b, const char *topic, rd_kafka_resp_err_t e,
                                    struct pw_errbuf *err)
{
    (void)b;
    return pw_err_set(err, e == RD_KAFKA_RESP_ERR__FATAL ? PW_E_FATAL : PW_E_TRANSIENT,
                      "cannot publish to '%s': %s", topic, rd_kafka_err2str(e));
}

/* Adds "name: n" to hdrs. */
static void kafka_header_size(rd_kafka_headers_t *hdrs, const char *name, size_t n)
{
    char v[24];
    snprintf(v, sizeof v, "%zu", n);
    rd_kafka_header_add(hdrs, name, -1, v, -1);
}

/*
 * Sends a dead letter the broker refused as too large again, one stage
 * smaller, from its delivery report: its headers so far, and the sizes of
 * what it drops. false when it has nothing left to drop, or cannot be sent.
 */
static bool kafka_bus_shrink(struct kafka_bus *b, const rd_kafka_message_t *msg,
                             enum kafka_dead_stage stage)
{
    if (stage == KAFKA_DEAD_NO_KEY)
        return false;
    rd_kafka_headers_t *orig = NULL;
    rd_kafka_headers_t *hdrs = rd_kafka_message_headers(msg, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR
                                   ? rd_kafka_headers_copy(orig)
                                   : rd_kafka_headers_new(2);
    enum kafka_dead_stage next = stage + 1;
    if (next == KAFKA_DEAD_NO_VALUE)
        kafka_header_size(hdrs, "dlq.value.dropped", msg->len);
    else
        kafka_header_size(hdrs, "dlq.key.dropped", msg->key_len);
    const void *key = next == KAFKA_DEAD_NO_VALUE ? msg->key : NULL;
    size_t key_len = next == KAFKA_DEAD_NO_VALUE ? msg->key_len : 0;
    return kafka_bus_produce(b, rd_kafka_topic_name(msg->rkt), key, key_len, NULL, 0, 0, hdrs,
                             &kafka_dead_stages[next], false) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

static void kafka_bus_dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    struct kafka_bus *b = opaque;
    if (!msg->err)
        return;
    uintptr_t stage = (uintptr_t)msg->_private, first = (uintptr_t)kafka_dead_stages;
    if (msg->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && stage >= first && stage < first + 3 &&
        kafka_bus_shrink(b, msg, (enum kafka_dead_stage)(stage - first)))
        return; /* on its way again, smaller: not a failure */
    b->failed++;
    b->last_err = msg->err;
    snprintf(b->last_topic, sizeof b->last_topic, "%s", rd_kafka_topic_name(msg->rkt));
}

static enum pw_err kafka_bus_event(struct kafka_bus *b, const char *topic,
                                   const struct pw_event *ev, struct pw_errbuf *err)
{
    char *json;
    size_t len;
    enum pw_err rc = pw_ce_encode_event(ev, &json, &len, err);
    if (rc)
        return rc;
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(3);
    rd_kafka_header_add(hdrs, "content-type", -1, "application/cloudevents+json", -1);
    if (ev->traceparent[0]) /* the trace continues in the headers as in the attributes */
        rd_kafka_header_add(hdrs, "traceparent", -1, ev->traceparent, -1);
    if (ev->traceparent[0] && ev->tracestate[0])
        rd_kafka_header_add(hdrs, "tracestate", -1, ev->tracestate, -1);
    rd_kafka_resp_err_t e = kafka_bus_produce(b, topic, ev->post.post_id, strlen(ev->post.post_id),
                                              json, len, RD_KAFKA_MSG_F_FREE, hdrs, NULL, true);
    if (e) {
        free(json);
        return kafka_bus_failed(b, topic, e, err);
    }
    return PW_OK;
}

/* The original's headers, byte for byte, plus the contract's dlq.* headers. */
static rd_kafka_headers_t *kafka_dead_headers(const struct pw_dead_letter *dl)
{
    const struct pw_origin *o = &dl->origin;
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(o->nheaders + 12);
    for (size_t i = 0; i < o->nheaders; i++)
        rd_kafka_header_add(hdrs, o->headers[i].name, -1, o->headers[i].value,
                            o->headers[i].value ? (ssize_t)o->headers[i].len : 0);
    char part[16], off[24], ts[24], attempts[16];
    snprintf(part, sizeof part, "%d", (int)o->partition);
    snprintf(off, sizeof off, "%lld", (long long)o->offset);
    snprintf(ts, sizeof ts, "%lld", (long long)o->timestamp_ms);
    snprintf(attempts, sizeof attempts, "%u", dl->attempts);
    rd_kafka_header_add(hdrs, "dlq.error.kind", -1, pw_err_kind_name(pw_err_kind(dl->code)), -1);
    rd_kafka_header_add(hdrs, "dlq.error.code", -1, pw_err_name(dl->code), -1);
    rd_kafka_header_add(hdrs, "dlq.error.message", -1, dl->message, -1);
    rd_kafka_header_add(hdrs, "dlq.original.topic", -1, o->topic ? o->topic : "", -1);
    rd_kafka_header_add(hdrs, "dlq.original.partition", -1, part, -1);
    rd_kafka_header_add(hdrs, "dlq.original.offset", -1, off, -1);
    if (o->timestamp_ms >= 0)
        rd_kafka_header_add(hdrs, "dlq.original.timestamp", -1, ts, -1);
    rd_kafka_header_add(hdrs, "dlq.consumer.group", -1, o->group ? o->group : "", -1);
    rd_kafka_header_add(hdrs, "dlq.attempts", -1, attempts, -1);
    if (dl->parked[0])
        rd_kafka_header_add(hdrs, "dlq.parked", -1, dl->parked, -1);
    return hdrs;
}

/*
 * The original's key and value with kafka_dead_headers; refused at once as
 * too large (by our producer's message.max.bytes), it goes again smaller,
 * as kafka_bus_shrink does for a refusal by the broker.
 */
static enum pw_err kafka_bus_dead_letter(struct kafka_bus *b, const char *topic,
                                         const struct pw_dead_letter *dl, struct pw_errbuf *err)
{
    const struct pw_origin *o = &dl->origin;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE;
    for (int stage = KAFKA_DEAD_WHOLE; stage <= KAFKA_DEAD_NO_KEY; stage++) {
        rd_kafka_headers_t *hdrs = kafka_dead_headers(dl);
        if (stage >= KAFKA_DEAD_NO_VALUE)
            kafka_header_size(hdrs, "dlq.value.dropped", o->value_len);
        if (stage == KAFKA_DEAD_NO_KEY)
            kafka_header_size(hdrs, "dlq.key.dropped", o->key_len);
        bool value = stage == KAFKA_DEAD_WHOLE, key = stage != KAFKA_DEAD_NO_KEY;
        e = kafka_bus_produce(b, topic, key ? o->key : NULL, key ? o->key_len : 0,
                              value ? (void *)o->value : NULL, value ? o->value_len : 0,
                              RD_KAFKA_MSG_F_COPY, hdrs, &kafka_dead_stages[stage], true);
        if (e != RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
            break;
    }
    return e ? kafka_bus_failed(b, topic, e, err) : PW_OK;
}

static enum pw_err kafka_bus_publish(void *self, const struct pw_out *out, struct pw_errbuf *err)
{
    struct kafka_bus *b = self;
    /* A row without a topic was written before rows named theirs: an event. */
    const char *topic = out->topic[0] ? out->topic : b->log.s->events_topic;
    if (out->kind == PW_OUT_DEAD_LETTER)
        return kafka_bus_dead_letter(b, topic, &out->dl, err);
    return kafka_bus_event(b, topic, &out->ev, err);
}

static enum pw_err kafka_bus_flush(void *self, int timeout_ms, struct pw_errbuf *err)
{
    struct kafka_bus *b = self;
    long long deadline = kafka_now_ms() + timeout_ms;
    while (rd_kafka_outq_len(b->rk) > 0) {
        rd_kafka_flush(b->rk, 100);
        /*
         * A stop during an outage must not wait out message.timeout.ms: the
         * rows stay in the outbox, to be published after the restart.
         */
        if (b->log.s->stop && *b->log.s->stop && rd_kafka_outq_len(b->rk) > 0)
            return pw_err_set(err, PW_E_TRANSIENT,
                              "stopping with %d messages not yet acknowledged; they stay in the "
                              "outbox", rd_kafka_outq_len(b->rk));
        if (timeout_ms >= 0 && kafka_now_ms() > deadline && rd_kafka_outq_len(b->rk) > 0)
            return pw_err_set(err, PW_E_TRANSIENT,
                              "%d messages not acknowledged by the broker after %d ms",
                              rd_kafka_outq_len(b->rk), timeout_ms);
    }
    char errstr[256];
    rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(b->rk, errstr, sizeof errstr);
    if (fatal)
        return pw_err_set(err, PW_E_FATAL, "the producer failed for good: %s", errstr);
    if (b->failed) {
        unsigned n = b->failed;
        b->failed = 0;
        return pw_err_set(err, PW_E_TRANSIENT, "%u messages were not delivered (last to '%s'): %s",
                          n, b->last_topic, rd_kafka_err2str(b->last_err));
    }
    return PW_OK;
}

static void kafka_bus_close(void *self)
{
    struct kafka_bus *b = self;
    if (!b)
        return;
    if (b->rk) {
        /* Whatever is still queued stays in the outbox: a stop need not wait for it. */
        bool stopping = b->log.s->stop && *b->log.s->stop;
        rd_kafka_flush(b->rk, stopping ? 200 : 5000);
        rd_kafka_purge(b->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_destroy(b->rk);
    }
    free(b);
}

static const struct pw_bus_ops kafka_bus_ops = {
    .name = "kafka",
    .publish = kafka_bus_publish,
    .flush = kafka_bus_flush,
    .close = kafka_bus_close,
};

enum pw_err pw_kafka_bus_open(struct pw_bus *bus, const struct pw_kafka_settings *settings,
                              const char *const *warm_topics, struct pw_errbuf *err)
{
    struct kafka_bus *b = calloc(1, sizeof *b);
    if (!b)
        return pw_err_set(err, PW_E_NOMEM, "out of memory opening the producer");
    b->log = (struct kafka_logctx){settings, "producer"};
    /*
     * The broker's topic limit decides what is too large, not ours: a dead
     * letter is as large as the largest message the consumer took.
     */
    static const char *const extra[] = {"message.max.bytes", "16777216", NULL};
    b->rk = kafka_producer_new(settings, extra, b, kafka_bus_dr, err);
    if (!b->rk) {
        free(b);
        return err ? err->code : PW_E_USAGE;
    }
    for (const char *const *t = warm_topics; t && *t; t++)
        kafka_warm(b->rk, *t, settings->stop);
    bus->ops = &kafka_bus_ops;
    bus->self = b;
    return PW_OK;
}
