#include "adapters/kafka/noop_kafka.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "adapters/kafka/conf.h"
#include "domain/time.h"

struct noop {
    struct kafka_logctx log; /* first: the log callback finds it here */
    rd_kafka_t *consumer;
    const char *topic;
};

/* An event acknowledged: its command's offset may be committed (auto-commit of stored offsets). */
static void noop_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct noop *nw = opaque;
    if (m->err)
        return;
    uint64_t at = (uint64_t)(uintptr_t)m->_private;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, nw->topic, (int32_t)(at >> 48))->offset =
        (int64_t)(at & ((1ULL << 48) - 1)) + 1;
    rd_kafka_offsets_store(nw->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* An event as large as m, with m's timestamp as its time and m's key as its post. */
static int noop_event(const rd_kafka_message_t *m, char *ev, size_t size)
{
    char at[PW_TIME_STRLEN];
    rd_kafka_timestamp_type_t tstype;
    pw_time_format(rd_kafka_message_timestamp(m, &tstype) * 1000, at);
    int len = snprintf(ev, size,
                       "{\"specversion\":\"1.0\",\"id\":\"n-%lld\",\"source\":\"/noop\","
                       "\"type\":\"PostCreated\",\"time\":\"%s\",\"causationid\":\"x\","
                       "\"correlationid\":\"x\",\"data\":{\"post_id\":\"%.*s\","
                       "\"author_name\":\"a\",\"title\":\"t\",\"version\":1,\"created_at\":\"%s\","
                       "\"updated_at\":\"%s\",\"deleted_at\":null,\"body\":\"",
                       (long long)m->offset, at, (int)(m->key && m->key_len < 64 ? m->key_len : 0),
                       m->key ? (const char *)m->key : "", at, at);
    while ((size_t)len + 3 < m->len && (size_t)len + 3 < size)
        ev[len++] = 'b';
    return len + snprintf(ev + len, size - (size_t)len, "\"}}");
}

enum pw_err pw_kafka_noop_worker(const struct pw_kafka_settings *s, struct pw_errbuf *err)
{
    /* Offsets are stored as events are acknowledged, and committed in the background. */
    const char *const defaults[] = {
        "group.id", s->group, "enable.auto.commit", "true", "enable.auto.offset.store", "false",
        "auto.commit.interval.ms", "1000", "auto.offset.reset", "earliest", NULL};
    struct noop nw = {.log = {s, "consumer"}, .topic = s->commands_topic};
    rd_kafka_conf_t *conf = kafka_conf_new(s, RD_KAFKA_CONSUMER, defaults, &nw, err);
    char errstr[256];
    if (!conf || !(nw.consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr))) {
        if (conf)
            rd_kafka_conf_destroy(conf);
        return conf ? pw_err_set(err, PW_E_USAGE, "cannot start a consumer: %s", errstr)
                    : err->code;
    }
    rd_kafka_t *p = kafka_producer_new(s, NULL, &nw, noop_delivered, err);
    if (!p) {
        rd_kafka_destroy(nw.consumer);
        return err->code;
    }
    rd_kafka_poll_set_consumer(nw.consumer);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, s->commands_topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(nw.consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    char ev[2048];
    while (!(s->stop && *s->stop)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(nw.consumer, 100);
        if (m && !m->err) {
            int len = noop_event(m, ev, sizeof ev);
            void *where = (void *)(uintptr_t)(((uint64_t)m->partition << 48) | (uint64_t)m->offset);
            while (rd_kafka_producev(p, RD_KAFKA_V_TOPIC(s->events_topic),
                                     RD_KAFKA_V_KEY(m->key, m->key_len),
                                     RD_KAFKA_V_VALUE(ev, (size_t)len),
                                     RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                     RD_KAFKA_V_OPAQUE(where),
                                     RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                rd_kafka_poll(p, 10);
        }
        if (m)
            rd_kafka_message_destroy(m);
        rd_kafka_poll(p, 0); /* delivery reports: the acknowledged offsets are stored */
    }
    rd_kafka_flush(p, 30000);
    rd_kafka_consumer_close(nw.consumer);
    rd_kafka_destroy(nw.consumer);
    rd_kafka_destroy(p);
    return PW_OK;
}
