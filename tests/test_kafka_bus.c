/*
 * The bus contract on the Kafka bus, against librdkafka's mock cluster in
 * this process. What was delivered is read back from the topics and turned
 * into rows again: events through the CloudEvents decoder, dead letters
 * from their bytes and headers.
 */
#include "tests/bus_contract.h"

#include <arpa/inet.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

/* The raw message at topic's first offset, or the test fails. */
static rd_kafka_message_t *kbus_first(struct bus_world *b, const char *topic, rd_kafka_t **rk)
{
    struct kbus *k = b->priv;
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", k->ks.brokers, errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "group.id", "bus-raw", errstr, sizeof errstr);
    *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    cr_assert(*rk, "%s", errstr);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(KBUS_PARTITIONS);
    for (int p = 0; p < KBUS_PARTITIONS; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(*rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    for (int i = 0; i < 200; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(*rk, 100);
        if (m && !m->err)
            return m;
        if (m)
            rd_kafka_message_destroy(m);
    }
    cr_assert_fail("nothing arrived on '%s'", topic);
    return NULL;
}

static const char *kbus_header(const rd_kafka_message_t *m, const char *name, char *buf,
                               size_t size)
{
    rd_kafka_headers_t *hdrs;
    const void *v;
    size_t n;
    if (rd_kafka_message_headers(m, &hdrs) || rd_kafka_header_get_last(hdrs, name, &v, &n))
        return NULL;
    snprintf(buf, size, "%.*s", (int)n, (const char *)v);
    return buf;
}

/* A producer limit stands for the broker's: a dead letter too large for it goes smaller. */
Test(bus_kafka_limits, a_dead_letter_too_large_goes_without_its_value_then_its_key,
     .timeout = 60)
{
    static const char *const props[] = {"message.max.bytes=4000"};
    struct bus_world b;
    memset(&b, 0, sizeof b);
    kbus_open(&b);
    struct kbus *k = b.priv;
    pw_bus_close(&b.bus);
    k->ks.props = props;
    k->ks.nprops = 1;
    struct pw_errbuf err;
    cr_assert_eq(pw_kafka_bus_open(&b.bus, &k->ks, NULL, &err), PW_OK, "%s", err.msg);

    char *big = malloc(20000);
    memset(big, 'v', 20000);
    struct pw_out out = {.kind = PW_OUT_DEAD_LETTER, .topic = "post-commands.dlq"};
    out.dl = (struct pw_dead_letter){
        .origin = {.group = "g", .topic = "post-commands", .partition = 1, .offset = 9,
                   .timestamp_ms = -1, .key = "k", .key_len = 1, .value = big,
                   .value_len = 20000},
        .code = PW_E_TOO_LARGE, .message = "too large", .attempts = 1};
    cr_assert_eq(pw_bus_publish(&b.bus, &out, &err), PW_OK, "%s", err.msg);
    /* And one whose key alone is over the limit. */
    struct pw_out out2 = out;
    out2.dl.origin.key = big;
    out2.dl.origin.key_len = 10000;
    out2.dl.origin.value_len = 10;
    out2.dl.origin.offset = 10;
    cr_assert_eq(pw_bus_publish(&b.bus, &out2, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pw_bus_flush(&b.bus, 10000, &err), PW_OK, "%s", err.msg);

    rd_kafka_t *rk;
    char buf[64];
    size_t seen = 0;
    rd_kafka_message_t *m = kbus_first(&b, "post-commands.dlq", &rk);
    for (; m && seen < 2; seen++) {
        bool first = strcmp(kbus_header(m, "dlq.original.offset", buf, sizeof buf), "9") == 0;
        cr_assert_eq(m->len, 0, "the value is dropped");
        cr_assert_str_eq(kbus_header(m, "dlq.value.dropped", buf, sizeof buf),
                         first ? "20000" : "10");
        if (first) {
            cr_assert_eq(m->key_len, 1, "a small key stays");
            cr_assert_null(kbus_header(m, "dlq.key.dropped", buf, sizeof buf));
        } else {
            cr_assert_null(m->key, "a key over the limit goes too");
            cr_assert_str_eq(kbus_header(m, "dlq.key.dropped", buf, sizeof buf), "10000");
        }
        cr_assert_str_eq(kbus_header(m, "dlq.error.code", buf, sizeof buf), "too_large");
        rd_kafka_message_destroy(m);
        m = seen == 0 ? rd_kafka_consumer_poll(rk, 5000) : NULL;
    }
    cr_assert_eq(seen, 2);
    rd_kafka_destroy(rk);
    free(big);
    kbus_close(&b);
}

/*
 * The embedded broker answers pipelined requests at once, as a real broker
 * does: the connection it accepted (in this process) has TCP_NODELAY.
 * Without it, Nagle's algorithm held answers about 40 ms for a delayed ACK.
 */
Test(embedded_broker, its_connections_have_tcp_nodelay, .timeout = 30)
{
    static const char *const topics[] = {"t", NULL};
    struct pw_kafka_embedded *kafka;
    struct pw_errbuf err;
    cr_assert_eq(pw_kafka_embedded_start(topics, 1, &kafka, &err), PW_OK, "%s", err.msg);
    cr_assert(pw_kafka_embedded_nodelay(kafka));
    const char *brokers = pw_kafka_embedded_brokers(kafka);
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)atoi(strrchr(brokers, ':') + 1)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int c = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_eq(connect(c, (struct sockaddr *)&to, sizeof to), 0, "%s", brokers);
    struct sockaddr_in me;
    socklen_t mlen = sizeof me;
    cr_assert_eq(getsockname(c, (struct sockaddr *)&me, &mlen), 0);
    /* The broker's end: the socket in this process whose peer is our end. */
    int found = -1, nodelay = 0;
    for (int tries = 0; found < 0 && tries < 100; tries++) {
        for (int fd = 0; fd < 4096 && found < 0; fd++) {
            struct sockaddr_in peer;
            socklen_t plen = sizeof peer;
            if (fd != c && getpeername(fd, (struct sockaddr *)&peer, &plen) == 0 &&
                peer.sin_family == AF_INET && peer.sin_port == me.sin_port)
                found = fd;
        }
        if (found < 0)
            nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    }
    cr_assert_geq(found, 0, "the broker did not accept the connection");
    socklen_t len = sizeof nodelay;
    cr_assert_eq(getsockopt(found, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len), 0);
    cr_expect(nodelay, "the broker's end of the connection has Nagle's algorithm on");
    close(c);
    pw_kafka_embedded_free(kafka);
}
