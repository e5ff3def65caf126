/*
 * Spans: a reader's own partition assignment, from a starting point to the
 * end as it was at the start, so that a replay or a tail "to the end"
 * stops even while producers keep writing.
 */
#include "adapters/kafka/span_kafka.h"

#include <stdlib.h>
#include <string.h>

#include "adapters/kafka/conf.h"

static enum pw_err span_metadata(struct kafka_span *sp, rd_kafka_t *rk, const char *topic,
                                 const char *brokers, struct pw_errbuf *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    if (!e && md->topic_cnt != 1)
        e = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    if (!e)
        e = md->topics[0].err;
    if (!e)
        sp->nparts = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (e)
        return pw_err_set(err, kafka_err(e), "cannot read topic '%s' at %s: %s", topic,
                          brokers ? brokers : "?", rd_kafka_err2str(e));
    return PW_OK;
}

/*
 * Where a replay by time starts in each partition: the broker's answer, or
 * a filtered start. A broker that gives any partition an offset can look
 * times up, and its "none" means nothing is that recent there: start at
 * the end. One that gives none may not be able to (librdkafka's mock
 * cluster, the embedded broker, cannot): then each partition is read from
 * its start, skipping what is older, which is right either way.
 */
static rd_kafka_resp_err_t span_times(struct kafka_span *sp, rd_kafka_t *rk,
                                      rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, parts, 10000);
    for (int i = 0; !e && i < parts->cnt; i++)
        sp->looked_up |= parts->elems[i].offset >= 0;
    for (int i = 0; !e && i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        if (p->offset < 0 && !sp->looked_up && sp->pos[p->partition] < sp->end[p->partition]) {
            p->offset = sp->pos[p->partition];
            sp->filter[p->partition] = true;
        } else if (p->offset < 0) {
            p->offset = sp->end[p->partition];
        }
        sp->pos[p->partition] = p->offset;
    }
    return e;
}

enum pw_err kafka_span_assign(struct kafka_span *sp, rd_kafka_t *rk, const char *topic,
                              const char *brokers, enum pw_kafka_start start, int64_t offset,
                              int64_t time_ms, struct pw_errbuf *err)
{
    memset(sp, 0, sizeof *sp);
    sp->time_ms = time_ms;
    enum pw_err rc = span_metadata(sp, rk, topic, brokers, err);
    if (rc)
        return rc;
    size_t n = (size_t)sp->nparts + 1;
    sp->end = calloc(n, sizeof *sp->end);
    sp->pos = calloc(n, sizeof *sp->pos);
    sp->filter = calloc(n, sizeof *sp->filter);
    if (!sp->end || !sp->pos || !sp->filter)
        return pw_err_set(err, PW_E_NOMEM, "out of memory reading '%s'", topic);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(sp->nparts);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int32_t p = 0; p < sp->nparts && !e; p++) {
        int64_t lo = 0, hi = 0;
        e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        sp->end[p] = hi;
        sp->pos[p] = start == PW_START_END                            ? hi
                     : start == PW_START_OFFSET && offset > lo       ? offset
                                                                     : lo;
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset =
            start == PW_START_TIME ? time_ms : sp->pos[p];
    }
    if (!e && start == PW_START_TIME)
        e = span_times(sp, rk, parts);
    if (!e)
        e = rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (e)
        return pw_err_set(err, kafka_err(e), "cannot read topic '%s' at %s: %s", topic,
                          brokers ? brokers : "?", rd_kafka_err2str(e));
    return PW_OK;
}

void kafka_span_seen(struct kafka_span *sp, int32_t p, int64_t next)
{
    if (p >= 0 && p < sp->nparts && next > sp->pos[p])
        sp->pos[p] = next;
}

bool kafka_span_skip(struct kafka_span *sp, const rd_kafka_message_t *m)
{
    if (m->partition < 0 || m->partition >= sp->nparts || !sp->filter[m->partition])
        return false;
    rd_kafka_timestamp_type_t tstype;
    if (rd_kafka_message_timestamp(m, &tstype) >= sp->time_ms)
        return false;
    kafka_span_seen(sp, m->partition, m->offset + 1);
    return true;
}

bool kafka_span_done(const struct kafka_span *sp)
{
    for (int32_t p = 0; p < sp->nparts; p++)
        if (sp->pos[p] < sp->end[p])
            return false;
    return true;
}

void kafka_span_release(struct kafka_span *sp)
{
    free(sp->end);
    free(sp->pos);
    free(sp->filter);
    memset(sp, 0, sizeof *sp);
}

void kafka_reader_close(struct kafka_reader *r)
{
    if (r->rk)
        rd_kafka_destroy(r->rk);
    kafka_span_release(&r->span);
}

enum pw_err kafka_reader_open(struct kafka_reader *r, const struct pw_kafka_settings *s,
                              const char *topic, enum pw_kafka_start start, int64_t offset,
                              int64_t time_ms, struct pw_errbuf *err)
{
    static const char *const defaults[] = {"group.id", "postctl", "enable.auto.commit", "false",
                                           "enable.partition.eof", "true", NULL};
    memset(r, 0, sizeof *r);
    r->log = (struct kafka_logctx){s, "consumer"};
    rd_kafka_conf_t *conf = kafka_conf_new(s, RD_KAFKA_CONSUMER, defaults, r, err);
    if (!conf)
        return err->code;
    char errstr[256];
    r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!r->rk) {
        rd_kafka_conf_destroy(conf);
        return pw_err_set(err, PW_E_USAGE, "cannot start a consumer: %s", errstr);
    }
    return kafka_span_assign(&r->span, r->rk, topic, s->brokers, start, offset, time_ms, err);
}

enum pw_err kafka_reader_run(struct kafka_reader *r, bool until_end, volatile sig_atomic_t *stop,
                             bool (*fn)(const rd_kafka_message_t *m, void *arg), void *arg,
                             struct pw_errbuf *err)
{
    bool more = true;
    while (more && !(stop && *stop) && !(until_end && kafka_span_done(&r->span))) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->rk, 200);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            kafka_span_seen(&r->span, m->partition, m->offset);
        } else if (m->err) {
            rd_kafka_resp_err_t e = m->err;
            rd_kafka_message_destroy(m);
            if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || e == RD_KAFKA_RESP_ERR__TRANSPORT)
                return pw_err_set(err, PW_E_TRANSIENT, "cannot reach Kafka at %s: %s",
                                  r->log.s->brokers, rd_kafka_err2str(e));
            continue;
        } else if (!kafka_span_skip(&r->span, m)) {
            kafka_span_seen(&r->span, m->partition, m->offset + 1);
            /* Past the end as it was: written since (a redriven command dead-lettered again). */
            bool past = until_end && m->partition >= 0 && m->partition < r->span.nparts &&
                        m->offset >= r->span.end[m->partition];
            if (!past)
                more = fn(m, arg);
        }
        rd_kafka_message_destroy(m);
    }
    return PW_OK;
}
