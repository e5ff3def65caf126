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
 */
#include "adapters/kafka/bus_kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kafka/cloudevents.h"
#include "adapters/kafka/conf.h"

struct kafka_bus {
    struct kafka_logctx log; /* first: the log callback finds it here */
    rd_kafka_t *rk;
    unsigned failed; /* deliveries failed since the last flush */
    rd_kafka_resp_err_t last_err;
    char last_topic[PW_TOPIC_MAX + 1];
};

static void kafka_bus_dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    struct kafka_bus *b = opaque;
    if (msg->err) {
        b->failed++;
        b->last_err = msg->err;
        snprintf(b->last_topic, sizeof b->last_topic, "%s", rd_kafka_topic_name(msg->rkt));
    }
}

/* Produces, waiting out a full local queue; librdkafka owns hdrs (and value if F_FREE) on PW_OK. */
static enum pw_err kafka_bus_produce(struct kafka_bus *b, const char *topic, const void *key,
                                     size_t key_len, void *value, size_t len, int flags,
                                     rd_kafka_headers_t *hdrs, struct pw_errbuf *err)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            b->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
            RD_KAFKA_V_VALUE(value, len), RD_KAFKA_V_MSGFLAGS(flags), RD_KAFKA_V_HEADERS(hdrs),
            RD_KAFKA_V_END);
        if (!e)
            return PW_OK;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_headers_destroy(hdrs);
            return pw_err_set(err, kafka_err(e), "cannot publish to '%s': %s", topic,
                              rd_kafka_err2str(e));
        }
        /* The local queue is full: serve delivery reports until there is room. */
        rd_kafka_poll(b->rk, 100);
    }
}

static enum pw_err kafka_bus_event(struct kafka_bus *b, const char *topic,
                                   const struct pw_event *ev, struct pw_errbuf *err)
{
    char *json;
    size_t len;
    enum pw_err rc = pw_ce_encode_event(ev, &json, &len, err);
    if (rc)
        return rc;
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(1);
    rd_kafka_header_add(hdrs, "content-type", -1, "application/cloudevents+json", -1);
    rc = kafka_bus_produce(b, topic, ev->post.post_id, strlen(ev->post.post_id), json, len,
                           RD_KAFKA_MSG_F_FREE, hdrs, err);
    if (rc)
        free(json);
    return rc;
}

/* The original's key, value and headers, byte for byte, plus the contract's dlq.* headers. */
static enum pw_err kafka_bus_dead_letter(struct kafka_bus *b, const char *topic,
                                         const struct pw_dead_letter *dl, struct pw_errbuf *err)
{
    const struct pw_origin *o = &dl->origin;
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(o->nheaders + 9);
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
    return kafka_bus_produce(b, topic, o->key, o->key_len, (void *)o->value, o->value_len,
                             RD_KAFKA_MSG_F_COPY, hdrs, err);
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
        rd_kafka_flush(b->rk, 5000);
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
    b->rk = kafka_producer_new(settings, NULL, b, kafka_bus_dr, err);
    if (!b->rk) {
        free(b);
        return err ? err->code : PW_E_USAGE;
    }
    for (const char *const *t = warm_topics; t && *t; t++)
        kafka_warm(b->rk, *t);
    bus->ops = &kafka_bus_ops;
    bus->self = b;
    return PW_OK;
}
