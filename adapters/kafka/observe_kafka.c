/* The consumer's own measures: lag and retention. */
#include "adapters/kafka/observe_kafka.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kafka/client_kafka.h"
#include "adapters/kafka/conf.h"

void kafka_observe_lag(struct pw_metrics *m, rd_kafka_t *rk, const int64_t *starts)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(rk, &parts) || !parts)
        return;
    rd_kafka_position(rk, parts);
    bool ours[PW_METRICS_MAX_PARTITIONS] = {0};
    /* A broker round trip each, on the loop's thread: a few per probe, and none while it is down. */
    int asks = atomic_load(&m->dependency_up[PW_M_KAFKA]) == 1 ? 4 : 0;
    atomic_store_explicit(&m->assigned, parts->cnt, memory_order_relaxed);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo = 0, hi = -1;
        if (p->partition < 0 || p->partition >= PW_METRICS_MAX_PARTITIONS)
            continue;
        ours[p->partition] = true;
        /*
         * Nothing fetched from it yet: the watermarks are asked of the
         * broker (once; fetches keep them after), and the lag counts from
         * where the partition starts, so that its series is there from the
         * moment it is assigned.
         */
        if (rd_kafka_get_watermark_offsets(rk, p->topic, p->partition, &lo, &hi) || hi < 0) {
            if (asks-- <= 0 ||
                rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo, &hi, 500))
                continue;
        }
        int64_t at = p->offset >= 0 ? p->offset : starts[p->partition] >= 0 ? starts[p->partition]
                                                                            : lo;
        atomic_store_explicit(&m->lag[p->partition], hi > at ? hi - at : 0, memory_order_relaxed);
    }
    for (int p = 0; p < PW_METRICS_MAX_PARTITIONS; p++)
        if (!ours[p])
            atomic_store_explicit(&m->lag[p], -1, memory_order_relaxed);
    rd_kafka_topic_partition_list_destroy(parts);
}

/*
 * A position below the partition's first offset means the broker's
 * retention deleted commands before they were read: nothing can bring them
 * back, but an operator must hear of it, with the count, not find it out.
 */
int64_t kafka_check_retention(const struct pw_kafka_settings *s, rd_kafka_t *rk,
                              const char *topic, int32_t partition, int64_t next)
{
    int64_t lo = 0, hi = 0;
    if (rd_kafka_query_watermark_offsets(rk, topic, partition, &lo, &hi, 10000) ||
        next >= lo)
        return next;
    kafka_log(s, "error",
              "'%s' [%d]: %lld commands (offsets %lld to %lld) were deleted by the broker's "
              "retention before they were read; reading on from offset %lld",
              topic, (int)partition, (long long)(lo - next), (long long)next,
              (long long)(lo - 1), (long long)lo);
    return lo;
}

enum pw_err pw_kafka_topic_retention(const struct pw_kafka_settings *s, const char *topic,
                                     int64_t *ms, struct pw_errbuf *err)
{
    rd_kafka_t *rk = kafka_producer_new(s, NULL, NULL, NULL, err);
    if (!rk)
        return err->code;
    rd_kafka_ConfigResource_t *res = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_AdminOptions_set_request_timeout(o, 10000, NULL, 0);
    rd_kafka_DescribeConfigs(rk, &res, 1, o, q);
    rd_kafka_event_t *ev = NULL;
    for (int waited = 0; !ev && waited < 15000 && !(s->stop && *s->stop); waited += 100)
        ev = rd_kafka_queue_poll(q, 100); /* a stop is heard within 0.1 s */
    enum pw_err rc = pw_err_set(err, PW_E_TRANSIENT,
                                "the broker did not describe topic '%s' (DescribeConfigs)", topic);
    const rd_kafka_DescribeConfigs_result_t *r = ev ? rd_kafka_event_DescribeConfigs_result(ev)
                                                    : NULL;
    size_t n = 0;
    const rd_kafka_ConfigResource_t **rs = r ? rd_kafka_DescribeConfigs_result_resources(r, &n)
                                             : NULL;
    if (ev && rd_kafka_event_error(ev))
        pw_err_set(err, PW_E_TRANSIENT, "describing topic '%s': %s", topic,
                   rd_kafka_event_error_string(ev));
    else if (n == 1 && rd_kafka_ConfigResource_error(rs[0]))
        pw_err_set(err, PW_E_TRANSIENT, "describing topic '%s': %s", topic,
                   rd_kafka_ConfigResource_error_string(rs[0]));
    else if (n == 1) {
        size_t nc = 0;
        const rd_kafka_ConfigEntry_t **c = rd_kafka_ConfigResource_configs(rs[0], &nc);
        long long retention = -2, segment = 0;
        bool deletes = true;
        for (size_t i = 0; i < nc; i++) {
            const char *k = rd_kafka_ConfigEntry_name(c[i]), *v = rd_kafka_ConfigEntry_value(c[i]);
            if (!v)
                continue;
            if (strcmp(k, "retention.ms") == 0)
                retention = strtoll(v, NULL, 10);
            else if (strcmp(k, "segment.ms") == 0)
                segment = strtoll(v, NULL, 10);
            else if (strcmp(k, "cleanup.policy") == 0)
                deletes = strstr(v, "delete") != NULL;
        }
        if (retention >= -1) {
            rc = PW_OK;
            /* Past a century (or past int64), forever: a time that far back is no time. */
            const long long century = 36525LL * 24 * 3600 * 1000; /* 36,525 days */
            if (retention < 0 || !deletes || segment < 0 || retention > century ||
                segment > century - retention)
                *ms = -1;
            else
                *ms = retention + segment;
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(res);
    rd_kafka_destroy(rk);
    return rc;
}
