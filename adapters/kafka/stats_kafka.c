/*
 * librdkafka's statistics (statistics.interval.ms, a JSON document per
 * client) into the client metrics: each broker's round-trip time, the
 * producer's queue and the consumer's fetch queue, as Karafka and Spring
 * show them.
 */
#include "adapters/kafka/stats_kafka.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "adapters/kafka/conf.h"

/* The sum of every partition's fetchq_cnt (messages fetched, not yet consumed). */
static int64_t stats_fetch_queue(json_t *topics)
{
    int64_t n = 0;
    const char *tname, *pname;
    json_t *t, *p;
    json_object_foreach(topics, tname, t) {
        json_object_foreach(json_object_get(t, "partitions"), pname, p) {
            json_int_t c = json_integer_value(json_object_get(p, "fetchq_cnt"));
            if (c > 0 && strcmp(pname, "-1") != 0)
                n += c;
        }
    }
    return n;
}

static void stats_take(struct pw_metrics *m, const char *text, size_t len);

int kafka_stats_cb(rd_kafka_t *rk, char *text, size_t len, void *opaque)
{
    (void)opaque;
    const struct kafka_logctx *ctx = kafka_opaque_use(rk);
    if (ctx && ctx->s && ctx->s->metrics)
        stats_take(ctx->s->metrics, text, len);
    kafka_opaque_done();
    return 0; /* librdkafka frees text */
}

/* One statistics document into m: the queue and each broker's round trip. */
static void stats_take(struct pw_metrics *m, const char *text, size_t len)
{
    json_t *doc = json_loadb(text, len, 0, NULL);
    if (!doc)
        return;
    const char *type = json_string_value(json_object_get(doc, "type"));
    struct pw_client_stats c = {0};
    c.known = true;
    enum pw_metric_client which = type && strcmp(type, "consumer") == 0 ? PW_M_CONSUMER
                                                                         : PW_M_PRODUCER;
    c.queue = which == PW_M_CONSUMER ? stats_fetch_queue(json_object_get(doc, "topics"))
                                     : json_integer_value(json_object_get(doc, "msg_cnt"));
    const char *name;
    json_t *b;
    json_object_foreach(json_object_get(doc, "brokers"), name, b) {
        /* Real brokers only: not the bootstrap entries nor the group coordinator's alias. */
        const char *source = json_string_value(json_object_get(b, "source"));
        if (json_integer_value(json_object_get(b, "nodeid")) < 0 ||
            (source && (strcmp(source, "logical") == 0 || strcmp(source, "internal") == 0)) ||
            c.nbrokers == PW_METRICS_MAX_BROKERS)
            continue;
        json_int_t rtt = json_integer_value(json_object_get(json_object_get(b, "rtt"), "avg"));
        snprintf(c.brokers[c.nbrokers].name, sizeof c.brokers[0].name, "%s", name);
        c.brokers[c.nbrokers++].rtt_s = (double)rtt / 1e6;
    }
    json_decref(doc);
    struct pw_client_stats *dst = &m->clients[which];
    pw_client_stats_lock(dst);
    dst->known = c.known;
    dst->nbrokers = c.nbrokers;
    memcpy(dst->brokers, c.brokers, sizeof c.brokers);
    dst->queue = c.queue;
    pw_client_stats_unlock(dst);
}
