/*
 * --durability relaxed on Apache Kafka: the database crashes (-m
 * immediate, which loses the commits it had not flushed) again and again
 * under a stream, while a worker runs. The worker waits each crash out,
 * gives up the commits it can no longer vouch for, rejoins its group and
 * reads their commands again. No event is ever on the topic ahead of what
 * the database kept, and in the end every command is applied once and
 * every version published. The server is stopped under everyone: the
 * suite runs alone (make kafka-real runs real_restart with --jobs=1).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/real/real_world.h"

/* At least CRASHES crashes, and more (up to MAX_CRASHES) until one took commits from the worker. */
enum { POSTS = 300, VERSIONS = 9, CRASHES = 4, MAX_CRASHES = 8 };

static void nap_ms(long ms)
{
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

/* The post (its number) and version of an event; its id into id. */
static int event_of(const struct kmsg *ev, long *version, char *id, size_t cap)
{
    json_t *j = json_loads(ev->value, 0, NULL);
    cr_assert(j, "an event that is not JSON");
    snprintf(id, cap, "%s", json_string_value(json_object_get(j, "id")));
    *version = (long)json_integer_value(json_object_get(json_object_get(j, "data"), "version"));
    json_decref(j);
    const char *dash = ev->key ? strrchr(ev->key, '-') : NULL;
    int k = dash ? atoi(dash + 1) : -1;
    cr_assert(k >= 0 && k < POSTS, "an event for %s", ev->key ? ev->key : "no key");
    return k;
}

/* How many posts have an event on the topic newer than the version the database holds. */
static long long events_ahead(struct rworld *w, const struct kmsg *evs, size_t n)
{
    long seen[POSTS] = {0}, v;
    char id[64];
    for (size_t i = 0; i < n; i++) {
        int k = event_of(&evs[i], &v, id, sizeof id);
        seen[k] = v > seen[k] ? v : seen[k];
    }
    return pg_schema_versions_ahead(&w->pg, "rx", seen, POSTS);
}

/* The server crashed after_ms from now, beside the test (which asserts on its own thread only). */
struct crash {
    long after_ms;
    int rc;
};

static void *crash_server(void *arg)
{
    struct crash *c = arg;
    nap_ms(c->after_ms);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s stop -m immediate >/dev/null", getenv("PW_PG_CTL"));
    c->rc = system(cmd);
    return NULL;
}

/* The worker the test holds still (SIGSTOP), let go whatever becomes of the test. */
static pid_t held;

static void let_go(void)
{
    if (held > 0)
        kill(held, SIGCONT);
}

/* The worker gave up commits it could not vouch for, after a crash (conn.c, write_pg.c). */
static bool gave_up(const struct rworker *p)
{
    return rworker_logged(p, "not known on disk") || rworker_logged(p, "did not complete");
}

/* Waits until every post is at version; false if it did not come within 60 s. */
static bool all_at(struct rworld *w, int version)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM posts WHERE version = %d", version);
    for (int i = 0; i < 600; i++, nap_ms(100))
        if (rworld_sql(w, sql) == POSTS)
            return true;
    return false;
}

Test(real_restart, relaxed_durability_under_crashes_of_the_database_publishes_nothing_it_lost,
     .timeout = 300, .fini = let_go)
{
    if (!getenv("PW_PG_CTL"))
        cr_skip_test("stops the server: run it under tools/with-postgres (make kafka-real does)");
    struct rworld w;
    rworld_open(&w, 4, NULL);
    const char *const args[] = {"--durability", "relaxed", "--batch-size", "50", "-X",
                                "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
                                NULL};
    struct rworker p = {0};
    rworker_start(&w, &p, args);
    rworld_preload(&w, "rx", 0, POSTS);
    cr_assert_geq(rworld_wait_for(&w, w.events, POSTS, 60000), POSTS);
    /* The stream's commits stay unflushed until the relay flushes them: a crash takes the rest. */
    pg_slow_wal_writer(true);
    int v = 1;
    for (int crash = 0; crash < CRASHES || (crash < MAX_CRASHES && !gave_up(&p)); crash++) {
        /* The worker back at work, then a round as a stream, and the server dies in its midst. */
        cr_assert(all_at(&w, v), "crash %d: the rounds before it applied", crash);
        struct crash c = {150 + 50L * (crash % 4), -1};
        pthread_t crasher;
        cr_assert_eq(pthread_create(&crasher, NULL, crash_server, &c), 0);
        kafka_preload_updates(w.brokers, w.commands, "/real", "rx", 0, POSTS, v++, 10);
        pthread_join(crasher, NULL);
        cr_assert_eq(c.rc, 0, "the server stopped with -m immediate");
        nap_ms(1000); /* what the relay had flushed and read is published meanwhile */
        /* Held still, so that what it does once the server is back cannot hide an event ahead. */
        held = p.pid;
        kill(p.pid, SIGSTOP);
        nap_ms(200);
        size_t out = rworld_wait_for(&w, w.events, 0, 0);
        struct kmsg *evs;
        size_t n = rworld_read(&w, w.events, out, 30000, &evs);
        cr_assert_eq(n, out, "crash %d: every event on the topic read", crash);
        pg_server("start");
        long long ahead = events_ahead(&w, evs, n);
        long long kept = rworld_sql(&w, "SELECT coalesce(sum(version), 0) FROM posts");
        kill(p.pid, SIGCONT);
        held = 0;
        kmsgs_free(evs, n);
        cr_log_info("crash %d: %zu events out, %lld of %d versions kept by the server", crash, n,
                    kept, POSTS * v);
        cr_assert_eq(ahead, 0, "crash %d: %lld posts have an event for a commit the server lost",
                     crash, ahead);
        cr_assert_eq(rworker_poll(&p), -2, "the worker waited the crash out");
    }
    pg_slow_wal_writer(false);
    cr_assert(gave_up(&p), "no crash came while commits were not on disk: the test tried nothing");

    /* The rest of the stream; every lost command was read again and applied the same way. */
    for (; v <= VERSIONS; v++)
        kafka_preload_updates(w.brokers, w.commands, "/real", "rx", 0, POSTS, v, 0);
    char done[96];
    snprintf(done, sizeof done, "SELECT count(*) FROM posts WHERE version = %d", VERSIONS + 1);
    for (int i = 0; i < 1800 && (rworld_sql(&w, done) < POSTS ||
                                 rworld_sql(&w, "SELECT count(*) FROM outbox") > 0); i++)
        nap_ms(100);
    cr_assert_eq(rworker_stop(&p), 0);
    cr_assert_eq(rworld_sql(&w, done), POSTS, "every post at its last version");
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM inbox WHERE outcome = 'ok'"),
                 POSTS * (VERSIONS + 1), "every command applied once");
    cr_assert_eq(rworld_wait_for(&w, w.dlq, 1, 0), 0, "none rejected: none lost or run early");

    /* Each (post, version) published, under one event id (a repeat, at least once, is the same). */
    struct kmsg *evs;
    size_t want = (size_t)POSTS * (VERSIONS + 1);
    size_t n = rworld_read(&w, w.events, 2 * want, 5000, &evs);
    static char ids[POSTS][VERSIONS + 2][64];
    memset(ids, 0, sizeof ids);
    char id[64];
    long ver;
    for (size_t i = 0; i < n; i++) {
        int k = event_of(&evs[i], &ver, id, sizeof id);
        cr_assert(ver >= 1 && ver <= VERSIONS + 1, "post %d: version %ld", k, ver);
        if (ids[k][ver][0])
            cr_assert_str_eq(ids[k][ver], id, "post %d version %ld: two different events", k, ver);
        snprintf(ids[k][ver], sizeof ids[k][ver], "%s", id);
    }
    kmsgs_free(evs, n);
    for (int k = 0; k < POSTS; k++)
        for (int x = 1; x <= VERSIONS + 1; x++)
            cr_assert_neq(ids[k][x][0], '\0', "post %d has no event for version %d", k, x);
    cr_log_info("%zu events for %zu commands", n, want);
    rworld_close(&w);
}
