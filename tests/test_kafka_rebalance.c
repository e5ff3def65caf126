/*
 * Rebalances on librdkafka's mock cluster under both protocols: a worker
 * joins a stream and another leaves it, and nothing is lost, doubled or
 * run out of order. Every update expects the version before it, so a
 * command lost, doubled or run early is rejected, and the test sees it.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/kafka_world.h"

enum { POSTS = 200, VERSIONS = 31, N = POSTS * VERSIONS, LEAVE_AT = 20 };

static atomic_bool saw_cooperative;

static void quiet(const char *level, const char *msg)
{
    if (strstr(msg, "assigned") && strstr(msg, "cooperative"))
        atomic_store(&saw_cooperative, true);
    if (getenv("PW_TEST_LOG"))
        fprintf(stderr, "%s: %s\n", level, msg);
}

/* Waits until at least n events are on the topic. */
static void wait_events(struct kworld *kw, size_t n)
{
    struct kmsg *evs;
    size_t got = kworld_read(kw, "post-events", n, 60000, &evs);
    kmsgs_free(evs, got);
    cr_assert_geq(got, n, "only %zu events of %zu came", got, n);
}

/* Each post's events are versions 1..VERSIONS, once each, in order. */
static void check_events(const struct kmsg *evs, size_t n)
{
    static int last[POSTS];
    memset(last, 0, sizeof last);
    for (size_t i = 0; i < n; i++) {
        int k = atoi(evs[i].key + strlen("reb-"));
        cr_assert(k >= 0 && k < POSTS, "an event for %s", evs[i].key);
        json_t *ev = json_loads(evs[i].value, 0, NULL);
        cr_assert_not_null(ev);
        json_int_t v = json_integer_value(json_object_get(json_object_get(ev, "data"), "version"));
        json_decref(ev);
        cr_assert_eq(v, last[k] + 1, "post %s: version %lld after %d", evs[i].key, (long long)v,
                     last[k]);
        last[k] = (int)v;
    }
    for (int k = 0; k < POSTS; k++)
        cr_assert_eq(last[k], VERSIONS, "post reb-%d ended at version %d", k, last[k]);
}

/*
 * Worker a alone under a stream; b joins; b leaves cleanly; a finishes.
 * strategy is librdkafka's partition.assignment.strategy, NULL for the
 * worker's default.
 */
static void join_and_leave(const char *strategy, bool cooperative)
{
    struct kworld a, b;
    kworld_open(&a, 500);
    kworld_open_peer(&b, &a, 500);
    /* Batches that take long to fill: a revocation comes in the middle of one. */
    a.opts.batch_wait_ms = b.opts.batch_wait_ms = 250;
    /* The group's timeouts are the embedded broker's (source_kafka.c), as under make run. */
    static char strat[128];
    snprintf(strat, sizeof strat, "partition.assignment.strategy=%s", strategy ? strategy : "");
    static const char *props[1];
    props[0] = strat;
    a.ks.props = b.ks.props = props;
    a.ks.nprops = b.ks.nprops = strategy ? 1 : 0;
    a.ks.log = b.ks.log = quiet;
    kworld_preload(&a, "reb", 0, POSTS);
    kworld_start(&a);
    wait_events(&a, POSTS);
    kworld_start(&b); /* joins mid-stream: a round of updates every 300 ms or so, for 9 s */
    for (int v = 1; v < VERSIONS; v++) {
        kafka_preload_updates(a.ks.brokers, "post-commands", "/t", "reb", 0, POSTS, v, 15);
        if (v == LEAVE_AT) {
            kworld_stop(&b); /* leaves mid-stream */
            pw_outbox_close(&b.outbox);
            b.outbox.ops = NULL;
        }
    }
    struct kmsg *evs;
    size_t n = kworld_read(&a, "post-events", N, 60000, &evs);
    struct kmsg *more;
    size_t extra = kworld_read(&a, "post-events", N + 1, 1500, &more);
    kmsgs_free(more, extra);
    kworld_stop(&a);
    cr_assert_eq(extra, N, "no event twice");
    cr_assert_eq(a.rc, PW_OK, "%s", a.err.msg);
    cr_assert_eq(b.rc, PW_OK, "%s", b.err.msg);
    cr_assert_eq(n, N, "%zu events for %d commands", n, N);
    check_events(evs, n);
    kmsgs_free(evs, n);
    cr_assert_eq(a.stats.rejected + b.stats.rejected, 0, "no command lost or run out of order");
    cr_assert_eq(a.stats.applied + b.stats.applied, N, "each command applied once");
    cr_assert_gt(b.stats.consumed, 0, "the worker that joined took a share");
    cr_assert_eq(atomic_load(&saw_cooperative), cooperative, "the protocol: %s",
                 cooperative ? "cooperative" : "eager");
    kworld_close(&b);
    kworld_close(&a);
}

Test(rebalance, cooperative_by_default_a_join_and_a_leave_lose_double_and_reorder_nothing,
     .timeout = 180)
{
    join_and_leave(NULL, true);
}

Test(rebalance, eager_when_asked_a_join_and_a_leave_lose_double_and_reorder_nothing,
     .timeout = 180)
{
    join_and_leave("range,roundrobin", false);
}

Test(rebalance, cooperative_named_a_join_and_a_leave_lose_double_and_reorder_nothing,
     .timeout = 180)
{
    join_and_leave("cooperative-sticky", true);
}

/*
 * A worker stopped during its first join, at every moment of it: librdkafka
 * 2.0 aborts when it destroys a cooperative consumer that joined but had no
 * assignment yet (its issue 4312); the source must stop cleanly anyway.
 */
Test(rebalance, a_worker_stopped_at_any_moment_of_its_first_join_stops_cleanly, .timeout = 240)
{
    struct kworld a;
    kworld_open(&a, 20);
    a.ks.log = quiet;
    kworld_preload(&a, "j", 0, 50);
    kworld_start(&a);
    wait_events(&a, 50);
    /* Frequent heartbeats: the mock cluster then often makes a member sync again. */
    static const char *const props[] = {"heartbeat.interval.ms=100", "session.timeout.ms=6000"};
    for (int i = 0; i < 12; i++) {
        struct kworld b;
        kworld_open_peer(&b, &a, 20);
        b.ks.log = quiet;
        b.ks.props = props;
        b.ks.nprops = 2;
        kworld_start(&b);
        long ms = 500L * i; /* the mock holds a join about 5 s, then syncs */
        nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
        kworld_stop(&b);
        cr_assert_eq(b.rc, PW_OK, "stopped after %ld ms: %s", ms, b.err.msg);
        kworld_close(&b);
    }
    kworld_stop(&a);
    cr_assert_eq(a.rc, PW_OK, "%s", a.err.msg);
    /*
     * The kept consumers outlive their source, its settings and the
     * cluster: when it goes, their threads log that it went, and must
     * find nothing freed.
     */
    kworld_close(&a);
    nanosleep(&(struct timespec){3, 0}, NULL);
}
