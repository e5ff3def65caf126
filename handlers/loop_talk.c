/*
 * What the loop counts and says: each message's outcome into the counts,
 * the metrics and the log, the latency from a command's timestamp to its
 * event's acknowledgement, and the progress line.
 */
#include "handlers/loop_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Light traffic gets a line per message, so a person trying it out sees each one. */
#define LOOP_LOG_EACH_MAX 8

static void observe_outcome(struct pw_metrics *m, const struct pw_outcome *out)
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

void loop_observe_latency(struct pw_loop *l, const int64_t *ts, size_t n)
{
    if (!n)
        return;
    int64_t now = pw_metrics_now_ms(); /* a Kafka timestamp is wall-clock time */
    for (size_t i = 0; i < n; i++)
        pw_histogram_observe(&l->m->command_latency, (double)(now - ts[i]) / 1000);
}

void loop_observe_no_lag(struct pw_loop *l)
{
    for (int p = 0; p < PW_METRICS_MAX_PARTITIONS; p++)
        atomic_store_explicit(&l->m->lag[p], -1, memory_order_relaxed);
}

/* One line about in, with its fields when the loop has a function for them. */
#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
static void say(const struct pw_loop_config *cfg, const char *level, const struct pw_input *in,
                const struct pw_outcome *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!cfg->log_fields) {
        pw_vlogf(cfg->log, level, fmt, ap);
        va_end(ap);
        return;
    }
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const struct pw_cmd *cmd = &in->cmd;
    bool decoded = in->ready && in->decoded.code == PW_OK;
    char trace[33] = "";
    if (decoded && strlen(cmd->env.traceparent) >= 35) /* 00-TRACEID-SPAN-FLAGS */
        snprintf(trace, sizeof trace, "%.32s", cmd->env.traceparent + 3);
    struct pw_log_fields f = {
        .partition = in->origin.partition,
        .offset = in->origin.offset,
        .post_id = decoded ? cmd->post_id : NULL,
        .source = decoded ? cmd->env.source : NULL,
        .id = decoded ? cmd->env.id : NULL,
        .code = out->kind == PW_OUTCOME_REJECTED ? pw_err_name(out->err.code) : NULL,
        .trace_id = trace[0] ? trace : NULL,
    };
    cfg->log_fields(level, &f, msg);
}

/* The log line of one message's outcome: always a dead letter's; applied and duplicate if each. */
static void log_outcome(const struct pw_loop_config *cfg, const struct pw_input *in,
                        const struct pw_outcome *out, bool each)
{
    const struct pw_cmd *cmd = &in->cmd;
    const char *type = pw_cmd_type_name(cmd->type);
    if (out->kind == PW_OUTCOME_DUPLICATE && !in->ready) { /* another worker went past it */
        if (each)
            say(cfg, "info", in, out, "skipped partition %d offset %lld: done by the worker "
                "that took the partition over", (int)in->origin.partition,
                (long long)in->origin.offset);
    } else if (!in->ready || in->decoded.code != PW_OK) { /* given up on undecoded, or malformed */
        say(cfg, "warn", in, out, "dead letter: partition %d offset %lld: %s: %s",
            (int)in->origin.partition, (long long)in->origin.offset,
            pw_err_name(out->err.code), out->err.msg);
    } else if (out->kind == PW_OUTCOME_REJECTED && pw_err_kind(out->err.code) == PW_KIND_FAILED) {
        say(cfg, "warn", in, out, "failed %s '%s' from '%s': %s: %s; post '%s' is parked behind "
            "it until it is sent again (postworker redrive) or released (postworker release)",
            type, cmd->env.id, cmd->env.source, pw_err_name(out->err.code), out->err.msg,
            cmd->post_id ? cmd->post_id : "?");
    } else if (out->kind == PW_OUTCOME_REJECTED) {
        say(cfg, "warn", in, out, "rejected %s '%s' from '%s': %s: %s", type, cmd->env.id,
            cmd->env.source, pw_err_name(out->err.code), out->err.msg);
    } else if (each && out->kind == PW_OUTCOME_APPLIED && out->nevents) {
        say(cfg, "info", in, out, "applied %s '%s': %s '%s' version %lld", type, cmd->env.id,
            pw_event_type_name(out->event), cmd->post_id, (long long)out->version);
    } else if (out->kind == PW_OUTCOME_HELD) {
        say(cfg, each ? "info" : "debug", in, out, "held %s '%s' from '%s': %s", type,
            cmd->env.id, cmd->env.source, out->err.msg);
    } else if (each && out->kind == PW_OUTCOME_DUPLICATE) {
        say(cfg, "info", in, out, "duplicate %s '%s' from '%s': already processed", type,
            cmd->env.id, cmd->env.source);
    }
}

/* Ends the window once it is over: the count held back is said, even if no warning follows. */
static void talk_window(struct pw_loop *l, int64_t now)
{
    struct loop_talk *t = &l->talk;
    if (now - t->window_ms < LOOP_WARN_WINDOW_MS)
        return;
    if (t->held)
        pw_logf(l->cfg.log, "warn",
                "%llu more dead letters and rejections in the last %d s were not logged one "
                "by one (postworker_dead_letters_total counts them all)",
                (unsigned long long)t->held, LOOP_WARN_WINDOW_MS / 1000);
    t->window_ms = now;
    t->shown = t->held = 0;
}

/* True if one more warning may be said now; else it is counted. */
static bool talk_admit(struct pw_loop *l)
{
    talk_window(l, pw_clock_now_ms(l->clock));
    if (l->talk.shown < LOOP_WARN_MAX) {
        l->talk.shown++;
        return true;
    }
    l->talk.held++;
    return false;
}

void loop_talk_tick(struct pw_loop *l)
{
    struct loop_talk *t = &l->talk;
    const struct pw_loop_stats *st = &l->stats;
    int64_t now = pw_clock_now_ms(l->clock);
    talk_window(l, now);
    if (st->consumed == t->progress_consumed || now - t->progress_ms < LOOP_PROGRESS_MS)
        return;
    t->progress_ms = now;
    t->progress_consumed = st->consumed;
    pw_logf(l->cfg.log, "info",
            "progress: %llu consumed, %llu applied, %llu duplicates, %llu rejected, %llu dead "
            "letters, %llu published",
            (unsigned long long)st->consumed, (unsigned long long)st->applied,
            (unsigned long long)st->duplicates, (unsigned long long)st->rejected,
            (unsigned long long)st->dead_letters, (unsigned long long)st->published);
}

/*
 * One pass over outcomes[0..n) of in[0..n): the counts, the metrics, the
 * log lines, and into stamps (if not NULL) the timestamps of the commands
 * whose events are on their way (for their latency); how many.
 */
size_t loop_count_outcomes(struct pw_loop *l, const struct pw_input *in,
                           const struct pw_outcome *outs, size_t n, int64_t *stamps)
{
    bool each = n <= LOOP_LOG_EACH_MAX;
    size_t nstamps = 0;
    for (size_t i = 0; i < n; i++) {
        const struct pw_outcome *out = &outs[i];
        bool rejected = out->kind == PW_OUTCOME_REJECTED;
        l->stats.applied += out->kind == PW_OUTCOME_APPLIED;
        l->stats.duplicates += out->kind == PW_OUTCOME_DUPLICATE;
        l->stats.held += out->kind == PW_OUTCOME_HELD;
        l->stats.dead_letters += rejected;
        l->stats.rejected += rejected && in[i].ready && in[i].decoded.code == PW_OK;
        observe_outcome(l->m, out);
        if (stamps && out->kind == PW_OUTCOME_APPLIED && out->nevents &&
            in[i].origin.timestamp_ms >= 0)
            stamps[nstamps++] = in[i].origin.timestamp_ms;
        if (rejected ? talk_admit(l) : each)
            log_outcome(&l->cfg, &in[i], out, each);
    }
    return nstamps;
}
