/*
 * The Kafka message bus. Ordering per post comes from three things working
 * together: the relay publishes in commit order, the key (post id) picks one
 * partition, and the idempotent producer neither reorders nor duplicates
 * within a partition across its own retries.
 *
 * flush waits until every queued event is settled, acknowledged or failed,
 * rather than giving up at a timeout: an event still queued would go out
 * anyway, and publishing it again on a premature "failure" only makes
 * duplicates. Settling is bounded by message.timeout.ms.
 */
#include "adapters/kafka/bus_kafka.h"

#include <stdlib.h>
#include <string.h>

#include "adapters/kafka/cloudevents.h"
#include "adapters/kafka/conf.h"

struct kafka_bus {
    const struct pw_kafka_settings *s; /* first: the log callback finds it here */
    rd_kafka_t *rk;
    unsigned failed; /* deliveries failed since the last flush */
    rd_kafka_resp_err_t last_err;
};

static void kafka_bus_dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    (void)opaque;
    struct kafka_bus *b = msg->_private;
    if (msg->err && b) {
        b->failed++;
        b->last_err = msg->err;
    }
}

static enum pw_err kafka_bus_publish(void *self, const struct pw_event *ev, struct pw_errbuf *err)
{
    struct kafka_bus *b = self;
    char *json;
    size_t len;
    enum pw_err rc = pw_ce_encode_event(ev, &json, &len, err);
    if (rc)
        return rc;
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            b->rk, RD_KAFKA_V_TOPIC(b->s->events_topic),
            RD_KAFKA_V_KEY(ev->post.post_id, strlen(ev->post.post_id)),
            RD_KAFKA_V_VALUE(json, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
            RD_KAFKA_V_HEADER("content-type", "application/cloudevents+json", -1),
            RD_KAFKA_V_OPAQUE(b), RD_KAFKA_V_END);
        if (!e)
            return PW_OK; /* librdkafka owns json now */
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            free(json);
            return pw_err_set(err, kafka_err(e), "cannot publish event '%s' to '%s': %s", ev->id,
                              b->s->events_topic, rd_kafka_err2str(e));
        }
        /* The local queue is full: serve delivery reports until there is room. */
        rd_kafka_poll(b->rk, 100);
    }
}

static enum pw_err kafka_bus_flush(void *self, int timeout_ms, struct pw_errbuf *err)
{
    struct kafka_bus *b = self;
    long long deadline = kafka_now_ms() + timeout_ms;
    while (rd_kafka_outq_len(b->rk) > 0) {
        rd_kafka_flush(b->rk, 100);
        if (timeout_ms >= 0 && kafka_now_ms() > deadline && rd_kafka_outq_len(b->rk) > 0)
            return pw_err_set(err, PW_E_TRANSIENT,
                              "%d events not acknowledged by the broker after %d ms",
                              rd_kafka_outq_len(b->rk), timeout_ms);
    }
    char errstr[256];
    rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(b->rk, errstr, sizeof errstr);
    if (fatal)
        return pw_err_set(err, PW_E_FATAL, "the event producer failed for good: %s", errstr);
    if (b->failed) {
        unsigned n = b->failed;
        b->failed = 0;
        return pw_err_set(err, PW_E_TRANSIENT, "%u events were not delivered to '%s': %s", n,
                          b->s->events_topic, rd_kafka_err2str(b->last_err));
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

static void kafka_bus_warm(struct kafka_bus *b, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(b->rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (rkt && rd_kafka_metadata(b->rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
}

enum pw_err pw_kafka_bus_open(struct pw_bus *bus, const struct pw_kafka_settings *settings,
                              const char *const *warm_topics, struct pw_errbuf *err)
{
    static const char *const defaults[] = {
        "enable.idempotence", "true",
        "acks", "all",
        "linger.ms", "2",
        "message.timeout.ms", "30000",
        NULL,
    };
    struct kafka_bus *b = calloc(1, sizeof *b);
    if (!b)
        return pw_err_set(err, PW_E_NOMEM, "out of memory opening the event producer");
    b->s = settings;
    rd_kafka_conf_t *conf = kafka_conf_new(settings, defaults, b, err);
    if (!conf) {
        free(b);
        return err ? err->code : PW_E_USAGE;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, kafka_bus_dr);
    char errstr[256];
    b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!b->rk) {
        rd_kafka_conf_destroy(conf);
        free(b);
        return pw_err_set(err, PW_E_USAGE, "cannot start the event producer: %s", errstr);
    }
    for (const char *const *t = warm_topics; t && *t; t++)
        kafka_bus_warm(b, *t);
    bus->ops = &kafka_bus_ops;
    bus->self = b;
    return PW_OK;
}
