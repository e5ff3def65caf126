#include "adapters/kafka/observe_kafka.h"

#include "adapters/kafka/conf.h"

void kafka_observe_outcome(struct pw_metrics *m, const struct pw_outcome *out)
{
    enum pw_metric_outcome o;
    switch (out->kind) {
    case PW_OUTCOME_APPLIED: o = PW_M_APPLIED; break;
    case PW_OUTCOME_DUPLICATE: o = PW_M_DUPLICATE; break;
    case PW_OUTCOME_HELD: o = PW_M_HELD; break;
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
    default: return; /* a retry is counted when it is done */
    }
    pw_metric_add(&m->commands[o], 1);
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
        /*
         * Nothing fetched yet, or no position yet (an idle partition after
         * an assignment): unknown, left as it was, rather than the whole
         * partition counted as lag.
         */
        if (p->offset < 0 ||
            rd_kafka_get_watermark_offsets(rk, p->topic, p->partition, &lo, &hi) || hi < 0)
            continue;
        int64_t at = p->offset;
        atomic_store_explicit(&m->lag[p->partition], hi > at ? hi - at : 0, memory_order_relaxed);
    }
    for (int p = 0; p < PW_METRICS_MAX_PARTITIONS; p++)
        if (!ours[p])
            atomic_store_explicit(&m->lag[p], -1, memory_order_relaxed);
    rd_kafka_topic_partition_list_destroy(parts);
}

void kafka_observe_probe(struct pw_metrics *m, rd_kafka_t *rk, struct pw_service *svc)
{
    if (rk)
        kafka_observe_lag(m, rk);
    struct pw_service_stats st;
    struct pw_errbuf err;
    enum pw_err rc = pw_service_stats(svc, &st, &err);
    atomic_store_explicit(&m->dependency_up[PW_M_STORE], rc == PW_OK, memory_order_relaxed);
    if (!rc) {
        atomic_store(&m->outbox_pending, st.outbox_pending);
        atomic_store(&m->outbox_oldest_ms, st.outbox_oldest_ms);
        atomic_store(&m->parked_posts, st.parking.posts);
        atomic_store(&m->held_commands, st.parking.held);
        atomic_store(&m->parked_oldest_ms, st.parking.oldest_ms);
    }
}

void kafka_log_outcome(const struct pw_kafka_settings *s, const struct pw_input *in,
                       const struct pw_outcome *out, bool each)
{
    const struct pw_cmd *cmd = &in->cmd;
    const char *type = pw_cmd_type_name(cmd->type);
    if (!in->ready || in->decoded.code != PW_OK) { /* given up on undecoded, or malformed */
        kafka_log(s, "warn", "dead letter: partition %d offset %lld: %s: %s",
                  (int)in->origin.partition, (long long)in->origin.offset,
                  pw_err_name(out->err.code), out->err.msg);
    } else if (out->kind == PW_OUTCOME_REJECTED && pw_err_kind(out->err.code) == PW_KIND_FAILED) {
        kafka_log(s, "warn", "failed %s '%s' from '%s': %s: %s; post '%s' is parked behind it "
                  "until it is sent again (postworker redrive) or released (postworker release)",
                  type, cmd->env.id, cmd->env.source, pw_err_name(out->err.code), out->err.msg,
                  cmd->post_id ? cmd->post_id : "?");
    } else if (out->kind == PW_OUTCOME_REJECTED) {
        kafka_log(s, "warn", "rejected %s '%s' from '%s': %s: %s", type, cmd->env.id,
                  cmd->env.source, pw_err_name(out->err.code), out->err.msg);
    } else if (each && out->kind == PW_OUTCOME_APPLIED && out->nevents) {
        kafka_log(s, "info", "applied %s '%s': %s '%s' version %lld", type, cmd->env.id,
                  pw_event_type_name(out->event), cmd->post_id, (long long)out->version);
    } else if (out->kind == PW_OUTCOME_HELD) {
        kafka_log(s, each ? "info" : "debug", "held %s '%s' from '%s': %s", type, cmd->env.id,
                  cmd->env.source, out->err.msg);
    } else if (each && out->kind == PW_OUTCOME_DUPLICATE) {
        kafka_log(s, "info", "duplicate %s '%s' from '%s': already processed", type,
                  cmd->env.id, cmd->env.source);
    }
}

/*
 * A position below the partition's first offset means the broker's
 * retention deleted commands before they were read: nothing can bring them
 * back, but an operator must hear of it, with the count, not find it out.
 */
void kafka_check_retention(const struct pw_kafka_settings *s, rd_kafka_t *rk,
                           const char *topic, int32_t partition, int64_t next)
{
    int64_t lo = 0, hi = 0;
    if (rd_kafka_query_watermark_offsets(rk, topic, partition, &lo, &hi, 10000) ||
        next >= lo)
        return;
    kafka_log(s, "error",
              "'%s' [%d]: %lld commands (offsets %lld to %lld) were deleted by the broker's "
              "retention before they were read; reading on from offset %lld",
              topic, (int)partition, (long long)(lo - next), (long long)next,
              (long long)(lo - 1), (long long)lo);
}


/* Ends the window once it is over: the count held back is said, even if no warning follows. */
static void talk_window(struct kafka_talk *t, const struct pw_kafka_settings *s, long long now)
{
    if (now - t->window_ms < KAFKA_WARN_WINDOW_MS)
        return;
    if (t->held)
        kafka_log(s, "warn",
                  "%llu more dead letters and rejections in the last %d s were not logged one "
                  "by one (postworker_dead_letters_total counts them all)",
                  (unsigned long long)t->held, KAFKA_WARN_WINDOW_MS / 1000);
    t->window_ms = now;
    t->shown = t->held = 0;
}

bool kafka_talk_admit(struct kafka_talk *t, const struct pw_kafka_settings *s)
{
    talk_window(t, s, kafka_now_ms());
    if (t->shown < KAFKA_WARN_MAX) {
        t->shown++;
        return true;
    }
    t->held++;
    return false;
}

void kafka_talk_tick(struct kafka_talk *t, const struct pw_kafka_settings *s,
                     const struct pw_kafka_worker_stats *st)
{
    long long now = kafka_now_ms();
    talk_window(t, s, now);
    if (st->consumed == t->progress_consumed || now - t->progress_ms < KAFKA_PROGRESS_MS)
        return;
    t->progress_ms = now;
    t->progress_consumed = st->consumed;
    kafka_log(s, "info",
              "progress: %llu consumed, %llu applied, %llu duplicates, %llu rejected, %llu dead "
              "letters, %llu published",
              (unsigned long long)st->consumed, (unsigned long long)st->applied,
              (unsigned long long)st->duplicates, (unsigned long long)st->rejected,
              (unsigned long long)st->dead_letters, (unsigned long long)st->published);
}
