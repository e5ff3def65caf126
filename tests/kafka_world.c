/* The Kafka test world: mock cluster, worker thread, producer and reader. */
#include "tests/kafka_world.h"

#include <criterion/criterion.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/kafka/bus_kafka.h"
#include "adapters/kafka/client_kafka.h"

/* A bus decorator: counts what is published and requests a stop after stop_after. */
static enum pw_err count_publish(void *self, const struct pw_out *out, struct pw_errbuf *err)
{
    struct kworld *kw = self;
    enum pw_err rc = pw_bus_publish(&kw->kafka_bus, out, err);
    if (!rc && ++kw->published == kw->stop_after)
        kw->stop = 1;
    return rc;
}

static enum pw_err count_flush(void *self, int timeout_ms, struct pw_errbuf *err)
{
    struct kworld *kw = self;
    return pw_bus_flush(&kw->kafka_bus, timeout_ms, err);
}

static void count_close(void *self)
{
    (void)self;
}

static const struct pw_bus_ops count_bus_ops = {
    .name = "count",
    .publish = count_publish,
    .flush = count_flush,
    .close = count_close,
};

int kworld_partitions = 4;

static void kworld_init(struct kworld *kw, size_t batch_size, bool pg, struct kworld *owner)
{
    memset(kw, 0, sizeof *kw);
    static const char *const topics[] = {"post-commands", "post-events", "post-commands.dlq",
                                         NULL};
    struct pw_errbuf err;
    kw->owner = owner;
    /* Few partitions: a test's backlog is small, and assignment is quicker. */
    if (!owner)
        cr_assert_eq(pw_kafka_embedded_start(topics, kworld_partitions, &kw->kafka, &err), PW_OK,
                     "%s", err.msg);
    kw->ks = (struct pw_kafka_settings){
        .brokers = pw_kafka_embedded_brokers(owner ? owner->kafka : kw->kafka),
        .group = "postworker",
        .commands_topic = "post-commands",
        .events_topic = "post-events",
        .dlq_topic = "post-commands.dlq",
        .stop = &kw->stop,
        .embedded = true, /* librdkafka's mock cluster, as under make run */
    };
    if (owner && owner->pg) {
        cr_assert_eq(pw_pg_uow_open(&kw->uow, owner->pg->store), PW_OK);
        cr_assert_eq(pw_pg_store_open(&kw->st, owner->pg->store), PW_OK);
        cr_assert_eq(pw_pg_outbox_open(&kw->outbox, owner->pg->store), PW_OK);
    } else if (owner) {
        cr_assert_eq(pw_inmem_uow_open(&kw->uow, owner->store), PW_OK);
        cr_assert_eq(pw_inmem_store_open(&kw->st, owner->store), PW_OK);
        cr_assert_eq(pw_inmem_outbox_open(&kw->outbox, owner->store), PW_OK);
    } else if (pg) {
        kw->pg = calloc(1, sizeof *kw->pg);
        pg_schema_open(kw->pg);
        cr_assert_eq(pw_pg_uow_open(&kw->uow, kw->pg->store), PW_OK);
        cr_assert_eq(pw_pg_store_open(&kw->st, kw->pg->store), PW_OK);
        cr_assert_eq(pw_pg_outbox_open(&kw->outbox, kw->pg->store), PW_OK);
    } else {
        kw->store = pw_inmem_store_new();
        cr_assert_eq(pw_inmem_uow_open(&kw->uow, kw->store), PW_OK);
        cr_assert_eq(pw_inmem_store_open(&kw->st, kw->store), PW_OK);
        cr_assert_eq(pw_inmem_outbox_open(&kw->outbox, kw->store), PW_OK);
    }
    cr_assert_eq(pw_kafka_bus_open(&kw->kafka_bus, &kw->ks, NULL, &err), PW_OK, "%s", err.msg);
    kw->bus = (struct pw_bus){.ops = &count_bus_ops, .self = kw};
    pw_uuid_ids_open(&kw->ids);
    struct pw_app_ports ports = {.uow = &kw->uow, .store = &kw->st, .outbox = &kw->outbox,
                                 .bus = &kw->bus, .ids = &kw->ids};
    struct pw_app_config cfg = {.events_topic = kw->ks.events_topic,
                                .dlq_topic = kw->ks.dlq_topic,
                                .relay_batch = 256,
                                .flush_timeout_ms = -1};
    cr_assert_eq(pw_app_open(&kw->app, &ports, &cfg), PW_OK);
    kw->opts = (struct pw_worker_opts){
        .settings = &kw->ks,
        .batch_size = batch_size,
        .batch_wait_ms = 5,
        .start = PW_START_GROUP,
        .stop = &kw->stop,
        .stats = &kw->stats,
    };
}

void kworld_open(struct kworld *kw, size_t batch_size)
{
    kworld_init(kw, batch_size, false, NULL);
}

void kworld_open_pg(struct kworld *kw, size_t batch_size)
{
    kworld_init(kw, batch_size, true, NULL);
}

void kworld_open_peer(struct kworld *peer, struct kworld *kw, size_t batch_size)
{
    kworld_init(peer, batch_size, false, kw);
}

static void *kworld_main(void *arg)
{
    struct kworld *kw = arg;
    struct pw_service svc = pw_app_service(&kw->app);
    kw->rc = pw_worker_run(&kw->opts, &svc, &kw->err);
    return NULL;
}

void kworld_start(struct kworld *kw)
{
    kw->stop = 0;
    cr_assert_eq(pthread_create(&kw->thread, NULL, kworld_main, kw), 0);
    kw->running = true;
}

void kworld_wait(struct kworld *kw)
{
    if (!kw->running)
        return;
    pthread_join(kw->thread, NULL);
    kw->running = false;
}

void kworld_stop(struct kworld *kw)
{
    if (!kw->running)
        return;
    kw->stop = 1;
    pthread_join(kw->thread, NULL);
    kw->running = false;
}

void kworld_close(struct kworld *kw)
{
    kworld_stop(kw);
    pw_app_close(&kw->app);
    pw_bus_close(&kw->bus);
    pw_bus_close(&kw->kafka_bus);
    pw_outbox_close(&kw->outbox);
    pw_store_close(&kw->st);
    pw_uow_close(&kw->uow);
    pw_inmem_store_free(kw->store);
    if (kw->pg) {
        pg_schema_close(kw->pg);
        free(kw->pg);
    }
    pw_kafka_embedded_free(kw->kafka);
}

void kworld_send(struct kworld *kw, const char *topic, const char *key, const char *value,
                 const char *const *headers)
{
    struct pw_kafka_client *c;
    struct pw_errbuf err;
    cr_assert_eq(pw_kafka_client_new(&c, &kw->ks, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pw_kafka_client_produce(c, topic, key, value, strlen(value), headers, &err), PW_OK,
                 "%s", err.msg);
    cr_assert_eq(pw_kafka_client_flush(c, &err), 0, "%s", err.msg);
    pw_kafka_client_free(c);
}

void kworld_preload(struct kworld *kw, const char *prefix, int from, int n)
{
    kafka_preload(kw->ks.brokers, "post-commands", "/t", prefix, from, n);
}

void kafka_preload(const char *brokers, const char *topic, const char *source, const char *prefix,
                   int from, int n)
{
    struct pw_kafka_settings ks = {.brokers = brokers};
    struct pw_kafka_client *c;
    struct pw_errbuf err;
    cr_assert_eq(pw_kafka_client_new(&c, &ks, &err), PW_OK, "%s", err.msg);
    for (int i = from; i < from + n; i++) {
        char key[64], json[512];
        snprintf(key, sizeof key, "%s-%d", prefix, i);
        int len = snprintf(json, sizeof json,
                           "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"%s\","
                           "\"type\":\"CreatePost\",\"data\":{\"post_id\":\"%s\","
                           "\"author_name\":\"A\",\"title\":\"T\",\"body\":\"b\"}}",
                           key, source, key);
        cr_assert_eq(pw_kafka_client_produce(c, topic, key, json, (size_t)len, NULL, &err), PW_OK,
                     "%s", err.msg);
    }
    cr_assert_eq(pw_kafka_client_flush(c, &err), 0, "%s", err.msg);
    pw_kafka_client_free(c);
}

void kafka_preload_updates(const char *brokers, const char *topic, const char *source,
                           const char *prefix, int from, int n, int version, int trickle_ms)
{
    struct pw_kafka_settings ks = {.brokers = brokers};
    struct pw_kafka_client *c;
    struct pw_errbuf err;
    cr_assert_eq(pw_kafka_client_new(&c, &ks, &err), PW_OK, "%s", err.msg);
    for (int i = from; i < from + n; i++) {
        char key[64], json[512];
        snprintf(key, sizeof key, "%s-%d", prefix, i);
        int len = snprintf(json, sizeof json,
                           "{\"specversion\":\"1.0\",\"id\":\"%s-v%d\",\"source\":\"%s\","
                           "\"type\":\"UpdatePost\",\"data\":{\"post_id\":\"%s\","
                           "\"title\":\"T%d\",\"expected_version\":%d}}",
                           key, version, source, key, version, version);
        cr_assert_eq(pw_kafka_client_produce(c, topic, key, json, (size_t)len, NULL, &err), PW_OK,
                     "%s", err.msg);
        if (trickle_ms && (i - from) % 10 == 9) {
            cr_assert_eq(pw_kafka_client_flush(c, &err), 0, "%s", err.msg);
            nanosleep(&(struct timespec){0, trickle_ms * 1000L * 1000L}, NULL);
        }
    }
    cr_assert_eq(pw_kafka_client_flush(c, &err), 0, "%s", err.msg);
    pw_kafka_client_free(c);
}

static char *dup_bytes(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

size_t kworld_read(struct kworld *kw, const char *topic, size_t n, int timeout_ms,
                   struct kmsg **out)
{
    return kafka_read_topic(kw->ks.brokers, topic, n, timeout_ms, out);
}

/* The topic's partition count, waiting for it to exist. */
static int kafka_partitions(rd_kafka_t *rk, const char *topic)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
        rd_kafka_topic_destroy(rkt);
        int n = !e && md->topic_cnt == 1 && !md->topics[0].err ? md->topics[0].partition_cnt : 0;
        if (md)
            rd_kafka_metadata_destroy(md);
        if (n > 0)
            return n;
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    cr_assert_fail("topic '%s' has no partitions", topic);
    return 0;
}

size_t kafka_read_topic(const char *brokers, const char *topic, size_t n, int timeout_ms,
                        struct kmsg **out)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "group.id", "test-reader", errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    cr_assert(rk, "%s", errstr);
    int nparts = kafka_partitions(rk, topic);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    struct kmsg *msgs = calloc(n ? n : 1, sizeof *msgs);
    size_t got = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        long elapsed = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (got >= n || elapsed > timeout_ms)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err) {
            struct kmsg *k = &msgs[got++];
            k->key = m->key ? dup_bytes(m->key, m->key_len) : NULL;
            k->value = dup_bytes(m->payload, m->len);
            k->len = m->len;
            k->partition = m->partition;
            k->offset = m->offset;
            rd_kafka_timestamp_type_t tstype;
            k->timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
            rd_kafka_headers_t *hdrs;
            if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                const char *name;
                const void *val;
                size_t size;
                for (size_t i = 0;
                     k->nheaders < 32 && !rd_kafka_header_get_all(hdrs, i, &name, &val, &size);
                     i++) {
                    if (k->nheaders >= 16 && strncmp(name, "dlq.", 4) != 0)
                        continue;
                    char *h = malloc(strlen(name) + size + 2);
                    sprintf(h, "%s=", name);
                    memcpy(h + strlen(name) + 1, val, size);
                    h[strlen(name) + 1 + size] = '\0';
                    k->headers[k->nheaders++] = h;
                }
            }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    *out = msgs;
    return got;
}

void kmsgs_free(struct kmsg *msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(msgs[i].key);
        free(msgs[i].value);
        for (size_t h = 0; h < msgs[i].nheaders; h++)
            free(msgs[i].headers[h]);
    }
    free(msgs);
}

const char *kmsg_header(const struct kmsg *m, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < m->nheaders; i++)
        if (strncmp(m->headers[i], name, n) == 0 && m->headers[i][n] == '=')
            return m->headers[i] + n + 1;
    return NULL;
}
