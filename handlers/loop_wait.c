/*
 * The loop's waits for a dependency that is down, and its probe of the
 * store and the source.
 */
#include "handlers/loop_int.h"

#include "ports/backoff.h"

/*
 * Says that a dependency is down, then again at least once a minute while
 * it stays down (not once per retry), and waits the backoff of the step's
 * next try; false if a stop came meanwhile.
 */
bool loop_wait(struct pw_loop *l, const char *what, enum pw_metric_retry kind,
               const struct pw_errbuf *err)
{
    int64_t now = pw_clock_now_ms(l->clock);
    loop_beat(l); /* waiting out a dependency is not being stuck */
    pw_metric_add(&l->m->retries[kind], 1);
    /* Which one is down: the probe asks the store (Kafka's state comes from Kafka's own errors). */
    loop_probe(l);
    int repeat = l->cfg.wait_repeat_ms > 0 ? l->cfg.wait_repeat_ms : 60000;
    if (!l->waiting) {
        pw_logf(l->cfg.log, "warn", "%s failed, retrying with backoff until it works: %s", what,
                err->msg);
        l->waiting_since_ms = l->waiting_said_ms = now;
    } else if (now - l->waiting_said_ms >= repeat) {
        pw_logf(l->cfg.log, "warn", "still waiting after %lld s: %s failed: %s",
                (long long)(now - l->waiting_since_ms) / 1000, what, err->msg);
        l->waiting_said_ms = now;
    }
    l->waiting = true;
    return pw_clock_sleep_ms(l->clock, pw_backoff_ms(l->attempt++), l->cfg.stop);
}

void loop_recovered(struct pw_loop *l)
{
    if (!l->waiting)
        return;
    l->waiting = false;
    pw_logf(l->cfg.log, "info", "recovered after %lld s",
            (long long)(pw_clock_now_ms(l->clock) - l->waiting_since_ms) / 1000);
}

/*
 * Every few seconds: the source's lag, and the outbox's depth and parking,
 * a query of the store that also says whether it answers (an idle worker
 * learns so that it went away or came back); true when it probed.
 */
bool loop_probe(struct pw_loop *l)
{
    int64_t now = pw_clock_now_ms(l->clock);
    if (now < l->next_probe_ms)
        return false;
    l->next_probe_ms = now + LOOP_PROBE_MS;
    pw_source_probe(l->src);
    struct pw_service_stats st;
    struct pw_errbuf err;
    enum pw_err rc = pw_service_stats(l->svc, &st, &err);
    loop_up(l, PW_M_STORE, rc == PW_OK);
    if (!rc) {
        struct pw_metrics *m = l->m;
        atomic_store(&m->outbox_pending, st.outbox_pending);
        atomic_store(&m->outbox_dead_letters, st.outbox_dead_letters);
        atomic_store(&m->outbox_oldest_ms, st.outbox_oldest_ms);
        atomic_store(&m->parked_posts, st.parking.posts);
        atomic_store(&m->held_commands, st.parking.held);
        atomic_store(&m->parked_oldest_ms, st.parking.oldest_ms);
    }
    return true;
}
