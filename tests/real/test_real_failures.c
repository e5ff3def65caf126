/*
 * Failures on Apache Kafka itself, as an operator meets them: kill -9s
 * around a stream, a backup restored under a running deployment, and a
 * command the database refuses parking its post until a redrive.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapters/kafka/client_kafka.h"
#include "tests/real/real_world.h"

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The stream of the issue: posts, each a CreatePost then 9 updates or (last, one in five) a delete. */
enum { STREAM_POSTS = 3000, STREAM_EACH = 10, STREAM_RATE = 600 };

struct producer {
    struct rworld *w;
    volatile int done;
    size_t sent;
};

/* Command r of post i, as the model says. */
static void stream_command(int i, int r, char *buf, size_t size)
{
    char post[32];
    snprintf(post, sizeof post, "ks-%d", i);
    if (r == 0)
        snprintf(buf, size,
                 "{\"specversion\":\"1.0\",\"id\":\"%s-%d\",\"source\":\"/crash\",\"type\":"
                 "\"CreatePost\",\"data\":{\"post_id\":\"%s\",\"author_name\":\"A\",\"title\":"
                 "\"t0\",\"body\":\"b\"}}",
                 post, r, post);
    else if (r == STREAM_EACH - 1 && i % 5 == 0)
        snprintf(buf, size,
                 "{\"specversion\":\"1.0\",\"id\":\"%s-%d\",\"source\":\"/crash\",\"type\":"
                 "\"DeletePost\",\"data\":{\"post_id\":\"%s\",\"expected_version\":%d}}",
                 post, r, post, r);
    else
        snprintf(buf, size,
                 "{\"specversion\":\"1.0\",\"id\":\"%s-%d\",\"source\":\"/crash\",\"type\":"
                 "\"UpdatePost\",\"data\":{\"post_id\":\"%s\",\"title\":\"t%d\","
                 "\"expected_version\":%d}}",
                 post, r, post, r, r);
}

/* Sends the stream at STREAM_RATE a second, round by round. */
static void *produce(void *arg)
{
    struct producer *pr = arg;
    struct pw_kafka_settings ks = {.brokers = pr->w->brokers};
    struct pw_kafka_client *c;
    struct pw_errbuf err;
    if (pw_kafka_client_new(&c, &ks, &err))
        return NULL;
    double start = now_s();
    for (int r = 0; r < STREAM_EACH; r++)
        for (int i = 0; i < STREAM_POSTS; i++) {
            char value[512], key[32];
            stream_command(i, r, value, sizeof value);
            snprintf(key, sizeof key, "ks-%d", i);
            if (pw_kafka_client_produce(c, pr->w->commands, key, value, strlen(value), NULL, &err))
                break;
            pr->sent++;
            double due = start + (double)pr->sent / STREAM_RATE;
            if (due > now_s())
                nap_ms((long)((due - now_s()) * 1000));
        }
    pw_kafka_client_flush(c, &err);
    pw_kafka_client_free(c);
    pr->done = 1;
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* How many distinct event ids topic holds among its first n messages or more. */
static size_t distinct_ids(struct rworld *w, size_t n, size_t *total)
{
    struct kmsg *evs;
    size_t got = rworld_read(w, w->events, n * 2, 30000, &evs);
    char **ids = calloc(got + 1, sizeof *ids);
    for (size_t i = 0; i < got; i++) {
        json_t *ev = json_loads(evs[i].value, 0, NULL);
        ids[i] = strdup(ev ? json_string_value(json_object_get(ev, "id")) : "?");
        json_decref(ev);
    }
    qsort(ids, got, sizeof *ids, cmp_str);
    size_t distinct = 0;
    for (size_t i = 0; i < got; i++)
        distinct += i == 0 || strcmp(ids[i], ids[i - 1]) != 0;
    for (size_t i = 0; i < got; i++)
        free(ids[i]);
    free(ids);
    kmsgs_free(evs, got);
    *total = got;
    return distinct;
}

/*
 * The crash stream: 3,000 posts of 10 commands at 600 a second on
 * 6 partitions, and the worker killed with kill -9 ten times, each within
 * 0.6 s after the restarted worker published its first event and applied
 * a command (so every restart made progress). No healthy command is
 * dead-lettered, and every post ends as its commands say.
 */
Test(real, kill_9s_around_a_stream_never_dead_letter_a_healthy_command, .timeout = 600)
{
    struct rworld w;
    rworld_open(&w, 6, NULL);
    struct producer pr = {.w = &w};
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, produce, &pr), 0);
    const char *const args[] = {"--batch-size", "500", "-X", "session.timeout.ms=3000", "-X",
                                "heartbeat.interval.ms=500", NULL};
    struct rworker p = {0};
    unsigned seed = (unsigned)time(NULL);
    srand(seed);
    cr_log_info("kill delays from seed %u", seed);
    const char *applied = "SELECT count(*) FROM inbox";
    for (int kill = 0; kill < 10; kill++) {
        size_t before = rworld_wait_for(&w, w.events, 0, 0);
        rworker_start(&w, &p, args);
        size_t after = rworld_wait_for(&w, w.events, before + 1, 120000);
        cr_assert_gt(after, before, "restart %d published an event", kill);
        /*
         * Its first event may be one the killed worker left in the outbox:
         * wait for one of its own commands, then kill it soon, while it
         * works through the backlog its restart let build up (after a
         * death, one message at a time), not while it idles.
         */
        long long done = rworld_sql(&w, applied);
        for (int i = 0; i < 1200 && rworld_sql(&w, applied) == done; i++)
            nap_ms(10);
        nap_ms(rand() % 200);
        rworker_kill(&p); /* the supervisor's restart follows */
    }
    rworker_start(&w, &p, args);
    /* The last one must run before it is stopped: a SIGTERM before main() is the default's. */
    for (int i = 0; i < 300 && !rworker_logged(&p, "consuming"); i++)
        nap_ms(100);
    pthread_join(thread, NULL);
    cr_assert_eq(pr.sent, (size_t)STREAM_POSTS * STREAM_EACH, "the whole stream was sent");
    const char *done = "SELECT count(*) FROM posts WHERE version = 10";
    for (int i = 0; i < 3000 && rworld_sql(&w, done) < STREAM_POSTS; i++)
        nap_ms(100);
    for (int i = 0; i < 300 && rworld_sql(&w, "SELECT count(*) FROM outbox") > 0; i++)
        nap_ms(100);
    cr_assert_eq(rworker_stop(&p), 0);
    cr_log_info("after 10 kills: %zu dead letters, %lld commands rejected not_found, %lld posts "
                "at version 10",
                rworld_wait_for(&w, w.dlq, 1, 0),
                rworld_sql(&w, "SELECT count(*) FROM inbox WHERE outcome = 'not_found'"),
                rworld_sql(&w, done));
    cr_assert_eq(rworld_wait_for(&w, w.dlq, 1, 0), 0, "no command was dead-lettered");
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM parked_posts"), 0, "no post parked");
    cr_assert_eq(rworld_sql(&w, done), STREAM_POSTS, "every post at version 10");
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM posts WHERE deleted_at IS NOT NULL"
                                " AND title = 't8'"),
                 STREAM_POSTS / 5, "one in five deleted after its eighth update");
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM posts WHERE deleted_at IS NULL"
                                " AND title = 't9'"),
                 STREAM_POSTS - STREAM_POSTS / 5, "the others at their ninth");
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM inbox WHERE outcome = 'ok'"),
                 STREAM_POSTS * STREAM_EACH, "every command applied once");
    size_t total, distinct = distinct_ids(&w, STREAM_POSTS * STREAM_EACH, &total);
    cr_assert_eq(distinct, (size_t)STREAM_POSTS * STREAM_EACH,
                 "every event published at least once (%zu in all)", total);
    rworld_close(&w);
}

/* Runs a PostgreSQL client tool on the test's schema; its exit status. */
static int pg_tool(struct rworld *w, const char *fmt, const char *arg)
{
    char cmd[2048], quoted[1200];
    snprintf(quoted, sizeof quoted, "'%s'", getenv("DATABASE_URL"));
    snprintf(cmd, sizeof cmd, fmt, quoted, w->pg.name, arg);
    return system(cmd);
}

/*
 * An operator restores a backup: 1,500 commands applied, pg_dump, 1,500
 * more, the worker stopped, the schema dropped and restored, the worker
 * started again in the same group: it applies the second half again, from
 * the offsets stored with the data.
 */
Test(real, a_database_restored_from_a_backup_catches_up_by_itself, .timeout = 300)
{
    enum { N = 1500 };
    struct rworld w;
    rworld_open(&w, 4, NULL);
    struct rworker p = {0};
    rworker_start(&w, &p, NULL);
    rworld_preload(&w, "bk", 0, N);
    for (int i = 0; i < 1200 && rworld_sql(&w, "SELECT count(*) FROM posts") < N; i++)
        nap_ms(100);
    char dump[128];
    snprintf(dump, sizeof dump, "build/backup-%d.dump", (int)getpid());
    cr_assert_eq(pg_tool(&w, "pg_dump -d %s -n %s -Fc -f %s", dump), 0, "pg_dump");
    rworld_preload(&w, "bk", N, N);
    for (int i = 0; i < 1200 && rworld_sql(&w, "SELECT count(*) FROM posts") < 2 * N; i++)
        nap_ms(100);
    cr_assert_eq(rworker_stop(&p), 0);
    cr_assert_eq(pg_tool(&w, "psql -q %s -c 'DROP SCHEMA %s CASCADE' %s", ">/dev/null"), 0);
    cr_assert_eq(pg_tool(&w, "pg_restore -d %s %.0s%s", dump), 0, "pg_restore");
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM posts"), N, "the backup's posts");
    rworker_start(&w, &p, NULL);
    for (int i = 0; i < 1200 && rworld_sql(&w, "SELECT count(*) FROM posts") < 2 * N; i++)
        nap_ms(100);
    cr_assert_eq(rworker_stop(&p), 0);
    remove(dump);
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM posts"), 2 * N,
                 "the commands after the backup applied again");
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM posts WHERE version <> 1"), 0);
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM inbox"), 2 * N);
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM outbox"), 0);
    rworld_close(&w);
}

/*
 * Each post's events on the topic never go back a version (a duplicate, at
 * least once, may repeat the last one), and every post reaches versions.
 */
static void assert_no_version_goes_back(struct rworld *w, int posts, int versions)
{
    struct kmsg *evs;
    size_t n = rworld_read(w, w->events, (size_t)(posts * versions) * 2, 15000, &evs);
    int *last = calloc((size_t)posts, sizeof *last);
    for (size_t i = 0; i < n; i++) {
        int k = atoi(strchr(evs[i].key, '-') + 1);
        cr_assert(k >= 0 && k < posts, "an event for %s", evs[i].key);
        json_t *ev = json_loads(evs[i].value, 0, NULL);
        json_int_t v = json_integer_value(json_object_get(json_object_get(ev, "data"), "version"));
        json_decref(ev);
        cr_assert_geq(v, last[k], "post %s: version %lld published after %d", evs[i].key,
                      (long long)v, last[k]);
        cr_assert_leq(v, last[k] + 1, "post %s: version %lld published before %d", evs[i].key,
                      (long long)v, last[k] + 1);
        last[k] = (int)v;
    }
    for (int k = 0; k < posts; k++)
        cr_assert_eq(last[k], versions, "post %d ended at version %d", k, last[k]);
    free(last);
    kmsgs_free(evs, n);
}

/*
 * The relay's holder stopped (SIGSTOP: a long pause, a frozen VM) keeps
 * its database session: the relay must move anyway, within seconds, so
 * that the other worker, which takes the stopped one's partitions once its
 * session times out, publishes their events; and the stopped one, woken,
 * must publish nothing out of order.
 */
Test(real, a_stopped_relay_gives_the_relay_up_and_wakes_to_publish_nothing_out_of_order,
     .timeout = 300)
{
    enum { POSTS = 300, VERSIONS = 5 };
    struct rworld w;
    rworld_open(&w, 4, NULL);
    const char *const args[] = {"--batch-size", "20", "-X", "session.timeout.ms=6000", NULL};
    struct rworker a = {0}, b = {0};
    rworker_start(&w, &a, args);
    rworker_start(&w, &b, args);
    rworld_preload(&w, "st", 0, POSTS);
    cr_assert_geq(rworld_wait_for(&w, w.events, POSTS, 60000), POSTS);
    long long holder = rworld_sql(&w, "SELECT split_part(holder, ':', 1)::int FROM leases WHERE role = 'relay'");
    cr_assert(holder == a.pid || holder == b.pid, "the relay is one of the two (%lld)", holder);
    struct rworker *stopped = holder == a.pid ? &a : &b, *other = holder == a.pid ? &b : &a;
    kill(stopped->pid, SIGSTOP);
    for (int v = 1; v < VERSIONS; v++)
        kafka_preload_updates(w.brokers, w.commands, "/real", "st", 0, POSTS, v, 0);
    bool done = false;
    for (int i = 0; i < 900 && !done; i++) {
        nap_ms(100);
        done = rworld_sql(&w, "SELECT count(*) FROM posts WHERE version = 5") == POSTS &&
               rworld_sql(&w, "SELECT count(*) FROM outbox") == 0;
    }
    cr_assert(done, "every command applied and its event published while the relay's holder "
              "is stopped");
    kill(stopped->pid, SIGCONT);
    sleep(3); /* it wakes, learns its partitions and its lease are gone */
    cr_assert_eq(rworker_stop(stopped), 0);
    cr_assert_eq(rworker_stop(other), 0);
    assert_no_version_goes_back(&w, POSTS, VERSIONS);
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM outbox"), 0);
    rworld_close(&w);
}

#define CE(type, id, data)                                                                     \
    "{\"specversion\":\"1.0\",\"id\":\"" id "\",\"source\":\"/real\",\"type\":\"" type "\","   \
    "\"time\":\"2026-11-20T10:00:00Z\",\"data\":" data "}"

static void send_ce(struct rworld *w, const char *key, const char *value)
{
    rworld_send(w, w->commands, key, value, strlen(value), NULL);
}

/* Runs postworker MODE ARGS... to its end on w; its exit status. */
static int tool(struct rworld *w, const char *const *args)
{
    struct rworker t = {0};
    rworker_start(w, &t, args);
    return rworker_wait(&t, 60);
}

/*
 * The parking scenario end to end: a CHECK constraint refuses one
 * UpdatePost; its post's next two commands are held (the post unchanged,
 * no rejections) while another post is applied; the constraint dropped,
 * `redrive --kind failed`: the post ends with all three applied in order.
 */
Test(real, a_refused_update_parks_its_post_until_a_redrive_runs_it_and_the_held_ones,
     .timeout = 240)
{
    struct rworld w;
    rworld_open(&w, 2, NULL);
    cr_assert_eq(tool(&w, (const char *const[]){"migrate", NULL}), 0);
    rworld_sql(&w, "ALTER TABLE posts ADD CONSTRAINT no_evil CHECK (body <> 'evil'); SELECT 1");
    struct rworker p = {0};
    rworker_start(&w, &p, NULL);
    send_ce(&w, "pk", CE("CreatePost", "pk-1", "{\"post_id\":\"pk\",\"author_name\":\"A\","
                                               "\"title\":\"one\",\"body\":\"b\"}"));
    send_ce(&w, "pk", CE("UpdatePost", "pk-2", "{\"post_id\":\"pk\",\"body\":\"evil\"}"));
    send_ce(&w, "pk", CE("UpdatePost", "pk-3", "{\"post_id\":\"pk\",\"title\":\"three\","
                                               "\"expected_version\":2}"));
    send_ce(&w, "pk", CE("UpdatePost", "pk-4", "{\"post_id\":\"pk\",\"title\":\"four\","
                                               "\"expected_version\":3}"));
    send_ce(&w, "other", CE("CreatePost", "o-1", "{\"post_id\":\"other\",\"author_name\":\"A\","
                                                 "\"title\":\"T\",\"body\":\"b\"}"));
    cr_assert_eq(rworld_wait_for(&w, w.dlq, 1, 60000), 1);
    cr_assert_eq(rworld_wait_for(&w, w.events, 2, 60000), 2, "pk created, other applied");
    for (int i = 0; i < 300 && rworld_sql(&w, "SELECT coalesce(max(held), 0) FROM parked_posts") < 2;
         i++)
        nap_ms(100);
    cr_assert_eq(rworld_sql(&w, "SELECT held FROM parked_posts WHERE post_id = 'pk'"), 2,
                 "its next two commands are held");
    cr_assert_eq(rworld_sql(&w, "SELECT version FROM posts WHERE post_id = 'pk'"), 1,
                 "the post unchanged");
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM posts WHERE post_id = 'other'"), 1);
    sleep(1);
    cr_assert_eq(rworld_wait_for(&w, w.dlq, 2, 0), 1, "no rejection of the held ones");
    struct kmsg *dl;
    cr_assert_eq(rworld_read(&w, w.dlq, 1, 20000, &dl), 1);
    cr_assert_str_eq(kmsg_header(&dl[0], "dlq.error.kind"), "failed");
    cr_assert_str_eq(kmsg_header(&dl[0], "dlq.error.code"), "apply_failed");
    cr_assert_str_eq(kmsg_header(&dl[0], "dlq.parked"), "pk");
    kmsgs_free(dl, 1);

    rworld_sql(&w, "ALTER TABLE posts DROP CONSTRAINT no_evil; SELECT 1");
    cr_assert_eq(tool(&w, (const char *const[]){"redrive", "--kind", "failed", NULL}), 0);
    for (int i = 0; i < 600 && rworld_sql(&w, "SELECT version FROM posts WHERE post_id = 'pk'") < 4;
         i++)
        nap_ms(100);
    cr_assert_eq(rworld_wait_for(&w, w.events, 5, 60000), 5);
    cr_assert_eq(rworker_stop(&p), 0);
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM posts WHERE post_id = 'pk' AND version = 4"
                                " AND title = 'four' AND body = 'evil'"),
                 1, "all three applied, in order, versions right");
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM parked_posts"), 0, "no longer parked");
    struct kmsg *evs;
    size_t n = rworld_read(&w, w.events, 5, 20000, &evs);
    long long version = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(evs[i].key, "pk") != 0)
            continue;
        json_t *ev = json_loads(evs[i].value, 0, NULL);
        long long v = json_integer_value(json_object_get(json_object_get(ev, "data"), "version"));
        cr_assert_eq(v, version + 1, "pk's events in order: %lld after %lld", v, version);
        version = v;
        json_decref(ev);
    }
    kmsgs_free(evs, n);
    cr_assert_eq(version, 4);
    rworld_close(&w);
}
