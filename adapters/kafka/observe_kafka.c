#include "adapters/kafka/observe_kafka.h"

void kafka_observe_outcomes(struct pw_metrics *m, const struct kafka_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const struct pw_outcome *out = &b->outs[i];
        enum pw_metric_outcome o;
        switch (out->kind) {
        case PW_OUTCOME_APPLIED: o = PW_M_APPLIED; break;
        case PW_OUTCOME_DUPLICATE: o = PW_M_DUPLICATE; break;
        case PW_OUTCOME_REJECTED:
            switch (pw_err_kind(out->err.code)) {
            case PW_KIND_MALFORMED: o = PW_M_MALFORMED; break;
            case PW_KIND_UNSUPPORTED: o = PW_M_UNSUPPORTED; break;
            case PW_KIND_FAILED: o = PW_M_FAILED; break;
            default: o = PW_M_REJECTED; break;
            }
            if (out->err.code >= 0 && out->err.code < PW_E__COUNT)
                pw_metric_add(&m->dead_letters[out->err.code], 1);
            break;
        default: continue; /* a retry is counted when it is done */
        }
        pw_metric_add(&m->commands[o], 1);
    }
}

size_t kafka_observe_stamps(const struct kafka_batch *b, int64_t *ts)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->outs[i].kind == PW_OUTCOME_APPLIED && b->outs[i].nevents &&
            b->in[i].origin.timestamp_ms >= 0)
            ts[n++] = b->in[i].origin.timestamp_ms;
    return n;
}

void kafka_observe_latency(struct pw_metrics *m, const int64_t *ts, size_t n)
{
    if (!n)
        return;
    int64_t now = pw_metrics_now_ms();
    for (size_t i = 0; i < n; i++)
        pw_histogram_observe(&m->command_latency, (double)(now - ts[i]) / 1000);
}

void kafka_observe_no_lag(struct pw_metrics *m)
{
    for (int p = 0; p < PW_METRICS_MAX_PARTITIONS; p++)
        atomic_store_explicit(&m->lag[p], -1, memory_order_relaxed);
}

void kafka_observe_lag(struct pw_metrics *m, rd_kafka_t *rk)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(rk, &parts) || !parts)
        return;
    rd_kafka_position(rk, parts);
    bool ours[PW_METRICS_MAX_PARTITIONS] = {0};
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo = 0, hi = -1;
        if (p->partition < 0 || p->partition >= PW_METRICS_MAX_PARTITIONS)
            continue;
        ours[p->partition] = true;
        if (rd_kafka_get_watermark_offsets(rk, p->topic, p->partition, &lo, &hi) || hi < 0)
            continue; /* nothing fetched yet: unknown, left as it was */
        int64_t at = p->offset >= 0 ? p->offset : lo;
        atomic_store_explicit(&m->lag[p->partition], hi > at ? hi - at : 0, memory_order_relaxed);
    }
    for (int p = 0; p < PW_METRICS_MAX_PARTITIONS; p++)
        if (!ours[p])
            atomic_store_explicit(&m->lag[p], -1, memory_order_relaxed);
    rd_kafka_topic_partition_list_destroy(parts);
}
