/*
 * The bus contract on the Kafka bus, against librdkafka's mock cluster in
 * this process. What was delivered is read back from the topics and turned
 * into rows again: events through the CloudEvents decoder, dead letters
 * from their bytes and headers.
 */
#include "tests/bus_contract.h"

#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/kafka/bus_kafka.h"
#include "adapters/kafka/cloudevents.h"
#include "adapters/kafka/embedded_kafka.h"

#define KBUS_PARTITIONS 2

struct kbus {
    struct pw_kafka_embedded *kafka;
    struct pw_kafka_settings ks;
};

static void kbus_open(struct bus_world *b)
{
    static const char *const topics[] = {"post-events", "post-commands.dlq", "other-events",
                                         NULL};
    struct kbus *k = calloc(1, sizeof *k);
    struct pw_errbuf err;
    cr_assert(k);
    cr_assert_eq(pw_kafka_embedded_start(topics, KBUS_PARTITIONS, &k->kafka, &err), PW_OK, "%s",
                 err.msg);
    k->ks = (struct pw_kafka_settings){.brokers = pw_kafka_embedded_brokers(k->kafka),
                                       .group = "postworker",
                                       .commands_topic = "post-commands",
                                       .events_topic = "post-events",
                                       .dlq_topic = "post-commands.dlq"};
    cr_assert_eq(pw_kafka_bus_open(&b->bus, &k->ks, NULL, &err), PW_OK, "%s", err.msg);
    b->priv = k;
}

static void kbus_close(struct bus_world *b)
{
    struct kbus *k = b->priv;
    pw_bus_close(&b->bus);
    pw_kafka_embedded_free(k->kafka);
    free(k);
}

static enum pw_err kbus_code(const char *name)
{
    for (int code = 0; code < PW_E__COUNT; code++)
        if (name && strcmp(pw_err_name((enum pw_err)code), name) == 0)
            return (enum pw_err)code;
    return PW_E_FATAL;
}

/* A dead letter back from its message: the dlq.* headers become its fields. */
static void kbus_dead_letter(const rd_kafka_message_t *m, struct pw_out *out)
{
    struct pw_header hs[32];
    size_t nh = 0;
    struct pw_dead_letter dl = {.origin = {.key = m->key, .key_len = m->key_len,
                                           .value = m->payload, .value_len = m->len}};
    rd_kafka_headers_t *hdrs = NULL;
    rd_kafka_message_headers(m, &hdrs);
    const char *name;
    const void *val;
    size_t size;
    char buf[256];
    for (size_t i = 0; hdrs && !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++) {
        if (strncmp(name, "dlq.", 4) != 0) {
            cr_assert_lt(nh, 32);
            hs[nh++] = (struct pw_header){name, val, val ? size : 0};
            continue;
        }
        snprintf(buf, sizeof buf, "%.*s", (int)size, val ? (const char *)val : "");
        if (strcmp(name, "dlq.error.code") == 0)
            dl.code = kbus_code(buf);
        else if (strcmp(name, "dlq.error.message") == 0)
            snprintf(dl.message, sizeof dl.message, "%s", buf);
        else if (strcmp(name, "dlq.attempts") == 0)
            dl.attempts = (unsigned)atoi(buf);
        else if (strcmp(name, "dlq.original.partition") == 0)
            dl.origin.partition = atoi(buf);
        else if (strcmp(name, "dlq.original.offset") == 0)
            dl.origin.offset = atoll(buf);
        else if (strcmp(name, "dlq.original.timestamp") == 0)
            dl.origin.timestamp_ms = atoll(buf);
        else if (strcmp(name, "dlq.original.topic") == 0 || strcmp(name, "dlq.consumer.group") == 0)
            cr_assert(val, "%s has a value", name);
    }
    /* Strings from headers need a NUL: point them at copies that live through the copy below. */
    char topic[256], group[256];
    const char *t = NULL, *g = NULL;
    for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++) {
        if (strcmp(name, "dlq.original.topic") == 0)
            snprintf(topic, sizeof topic, "%.*s", (int)size, (const char *)val), t = topic;
        if (strcmp(name, "dlq.consumer.group") == 0)
            snprintf(group, sizeof group, "%.*s", (int)size, (const char *)val), g = group;
    }
    dl.origin.topic = t;
    dl.origin.group = g;
    dl.origin.headers = hs;
    dl.origin.nheaders = nh;
    out->kind = PW_OUT_DEAD_LETTER;
    cr_assert_eq(pw_dead_letter_copy(&out->dl, &dl), PW_OK);
}

static size_t kbus_delivered(struct bus_world *b, const char *topic, struct pw_out *out,
                             size_t max)
{
    struct kbus *k = b->priv;
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", k->ks.brokers, errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "group.id", "bus-contract", errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    cr_assert(rk, "%s", errstr);
    int64_t end[KBUS_PARTITIONS], pos[KBUS_PARTITIONS];
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(KBUS_PARTITIONS);
    for (int p = 0; p < KBUS_PARTITIONS; p++) {
        int64_t lo;
        cr_assert_eq(rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &end[p], 5000), 0);
        pos[p] = lo;
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = lo;
    }
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    size_t got = 0;
    time_t deadline = time(NULL) + 20;
    for (;;) {
        bool done = true;
        for (int p = 0; p < KBUS_PARTITIONS; p++)
            done = done && pos[p] >= end[p];
        if (done || time(NULL) > deadline)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err && m->partition < KBUS_PARTITIONS) {
            pos[m->partition] = m->offset + 1;
            if (got < max) {
                struct pw_out *o = &out[got++];
                memset(o, 0, sizeof *o);
                snprintf(o->topic, sizeof o->topic, "%s", topic);
                rd_kafka_headers_t *hdrs = NULL;
                const void *v;
                size_t sz;
                bool dead = rd_kafka_message_headers(m, &hdrs) == 0 &&
                            rd_kafka_header_get_last(hdrs, "dlq.error.code", &v, &sz) == 0;
                if (dead) {
                    kbus_dead_letter(m, o);
                } else {
                    struct pw_errbuf err;
                    o->kind = PW_OUT_EVENT;
                    cr_assert_eq(pw_ce_decode_event(m->payload, m->len, &o->ev, &err), PW_OK,
                                 "%s", err.msg);
                }
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_destroy(rk);
    return got;
}

static const struct bus_adapter kafka_bus_adapter = {
    .open = kbus_open,
    .close = kbus_close,
    .delivered = kbus_delivered,
};

#define BUS_SUITE_NAME bus_kafka
#define BUS_ADAPTER kafka_bus_adapter
BUS_CONTRACT_SUITE()
