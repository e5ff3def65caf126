/*
 * The worker on Apache Kafka itself, run as a user runs it: the real
 * binaries, PostgreSQL, and a broker from tools/with-kafka. What the mock
 * cluster could not show is shown here: a member joining a running group,
 * offsets looked up by time, a broker's message limit, a broker restart,
 * and (real3::, three nodes) a leader killed mid-stream.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapters/kafka/client_kafka.h"
#include "tests/real/real_world.h"

#define CMD(type, id, data)                                                                   \
    "{\"specversion\":\"1.0\",\"id\":\"" id "\",\"source\":\"/real\",\"type\":\"" type "\","  \
    "\"time\":\"2026-11-20T10:00:00Z\",\"data\":" data "}"

static void nap_100ms(void)
{
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
}

static void send_str(struct rworld *w, const char *key, const char *value)
{
    rworld_send(w, w->commands, key, value, strlen(value), NULL);
}

static const char *field(json_t *obj, const char *a, const char *b)
{
    json_t *v = json_object_get(obj, a);
    return json_string_value(b ? json_object_get(v, b) : v);
}

/* The events of topic, each once by id: how many distinct, and the total. */
static size_t distinct_events(struct rworld *w, size_t want, size_t *total)
{
    struct kmsg *evs;
    size_t n = rworld_read(w, w->events, want * 2, 20000, &evs);
    *total = n;
    size_t distinct = 0;
    char **ids = calloc(n + 1, sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        json_t *ev = json_loads(evs[i].value, 0, NULL);
        cr_assert(ev, "event %zu is JSON", i);
        const char *id = field(ev, "id", NULL);
        bool seen = false;
        for (size_t j = 0; j < distinct && !seen; j++)
            seen = strcmp(ids[j], id) == 0;
        if (!seen)
            ids[distinct++] = strdup(id);
        json_decref(ev);
    }
    for (size_t j = 0; j < distinct; j++)
        free(ids[j]);
    free(ids);
    kmsgs_free(evs, n);
    return distinct;
}

/* Every command applied once: the posts, the inbox, and no version but the first. */
static void assert_applied_once(struct rworld *w, long long n)
{
    cr_assert_eq(rworld_sql(w, "SELECT count(*) FROM posts"), n);
    cr_assert_eq(rworld_sql(w, "SELECT count(*) FROM posts WHERE version <> 1"), 0,
                 "nothing applied twice");
    cr_assert_eq(rworld_sql(w, "SELECT count(*) FROM inbox"), n);
    cr_assert_eq(rworld_sql(w, "SELECT count(*) FROM outbox"), 0, "every event published");
}

Test(real, three_commands_end_to_end_with_every_field, .timeout = 120)
{
    struct rworld w;
    rworld_open(&w, 4, NULL);
    struct rworker p = {0};
    rworker_start(&w, &p, NULL);
    send_str(&w, "hello", CMD("CreatePost", "c-1", "{\"post_id\":\"hello\",\"author_name\":"
                                                   "\"Ada\",\"title\":\"Hi\",\"body\":\"First\"}"));
    send_str(&w, "hello",
             "{\"specversion\":\"1.0\",\"id\":\"c-2\",\"source\":\"/real\",\"type\":\"UpdatePost\","
             "\"time\":\"2026-11-20T11:00:00Z\",\"correlationid\":\"flow-1\","
             "\"data\":{\"post_id\":\"hello\",\"title\":\"Hi again\",\"expected_version\":1}}");
    send_str(&w, "hello",
             "{\"specversion\":\"1.0\",\"id\":\"c-3\",\"source\":\"/real\",\"type\":\"DeletePost\","
             "\"time\":\"2026-11-20T12:00:00Z\",\"data\":{\"post_id\":\"hello\"}}");
    struct kmsg *evs;
    size_t n = rworld_read(&w, w.events, 3, 60000, &evs);
    cr_assert_eq(rworker_stop(&p), 0, "a clean stop exits 0");
    cr_assert_eq(n, 3);
    static const char *types[] = {"PostCreated", "PostUpdated", "PostDeleted"};
    static const char *causes[] = {"c-1", "c-2", "c-3"};
    static const char *corrs[] = {"c-1", "flow-1", "c-3"};
    static const char *times[] = {"2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z",
                                  "2026-11-20T12:00:00Z"};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_str_eq(evs[i].key, "hello");
        cr_assert_str_eq(kmsg_header(&evs[i], "content-type"), "application/cloudevents+json");
        json_t *ev = json_loads(evs[i].value, 0, NULL);
        cr_assert(ev);
        cr_assert_str_eq(field(ev, "specversion", NULL), "1.0");
        cr_assert_str_eq(field(ev, "type", NULL), types[i]);
        cr_assert_str_eq(field(ev, "source", NULL), "/postworker");
        cr_assert_str_eq(field(ev, "subject", NULL), "hello");
        cr_assert_str_eq(field(ev, "time", NULL), times[i]);
        cr_assert_str_eq(field(ev, "datacontenttype", NULL), "application/json");
        cr_assert_str_eq(field(ev, "causationid", NULL), causes[i]);
        cr_assert_str_eq(field(ev, "correlationid", NULL), corrs[i]);
        cr_assert_eq(strlen(field(ev, "id", NULL)), 36);
        cr_assert_str_eq(field(ev, "data", "post_id"), "hello");
        cr_assert_str_eq(field(ev, "data", "author_name"), "Ada");
        cr_assert_str_eq(field(ev, "data", "title"), i ? "Hi again" : "Hi");
        cr_assert_str_eq(field(ev, "data", "body"), "First");
        cr_assert_eq(json_integer_value(json_object_get(json_object_get(ev, "data"), "version")),
                     (json_int_t)i + 1);
        cr_assert_str_eq(field(ev, "data", "created_at"), "2026-11-20T10:00:00Z");
        cr_assert_str_eq(field(ev, "data", "updated_at"), times[i]);
        json_t *deleted = json_object_get(json_object_get(ev, "data"), "deleted_at");
        if (i < 2)
            cr_assert(json_is_null(deleted));
        else
            cr_assert_str_eq(json_string_value(deleted), times[2]);
        json_decref(ev);
    }
    kmsgs_free(evs, n);
    cr_assert_eq(rworld_sql(&w, "SELECT version FROM posts WHERE post_id = 'hello'"), 3);
    rworld_close(&w);
}

Test(real, dead_letters_keep_the_original_and_one_too_large_goes_without_its_value,
     .timeout = 120)
{
    struct rworld w;
    /* The dead-letter topic takes 4 KiB messages; the commands topic the broker's default. */
    rworld_open(&w, 4, "max.message.bytes=4096");
    struct rworker p = {0};
    rworker_start(&w, &p, NULL);
    static const char *const hs[] = {"trace=t-1", NULL};
    rworld_send(&w, w.commands, "bad", "{nope", 5, hs);
    send_str(&w, "ghost", CMD("DeletePost", "d-1", "{\"post_id\":\"ghost\"}"));
    size_t big = 20000;
    char *huge = malloc(big);
    memset(huge, 'x', big);
    huge[0] = '{'; /* not JSON: malformed, and too large for the dead-letter topic */
    rworld_send(&w, w.commands, "huge", huge, big, NULL);
    send_str(&w, "after", CMD("CreatePost", "c-after", "{\"post_id\":\"after\",\"author_name\":"
                                                       "\"A\",\"title\":\"T\",\"body\":\"b\"}"));
    struct kmsg *dl, *evs;
    size_t nd = rworld_read(&w, w.dlq, 3, 60000, &dl);
    size_t ne = rworld_read(&w, w.events, 1, 60000, &evs);
    cr_assert_eq(rworker_stop(&p), 0);
    cr_assert_eq(nd, 3);
    cr_assert_eq(ne, 1, "the worker carried on after them");
    size_t found = 0;
    for (size_t i = 0; i < nd; i++) {
        const char *code = kmsg_header(&dl[i], "dlq.error.code");
        cr_assert(code);
        cr_assert_str_eq(kmsg_header(&dl[i], "dlq.consumer.group"), w.group);
        cr_assert_str_eq(kmsg_header(&dl[i], "dlq.original.topic"), w.commands);
        cr_assert_str_eq(kmsg_header(&dl[i], "dlq.attempts"), "1");
        cr_assert(kmsg_header(&dl[i], "dlq.original.timestamp"));
        if (strcmp(dl[i].key, "bad") == 0) {
            cr_assert_str_eq(code, "invalid_json");
            cr_assert_str_eq(kmsg_header(&dl[i], "dlq.error.kind"), "malformed");
            cr_assert_eq(dl[i].len, 5);
            cr_assert_eq(memcmp(dl[i].value, "{nope", 5), 0, "the value byte for byte");
            cr_assert_str_eq(kmsg_header(&dl[i], "trace"), "t-1", "and its headers");
            found++;
        } else if (strcmp(dl[i].key, "ghost") == 0) {
            cr_assert_str_eq(code, "not_found");
            cr_assert_str_eq(kmsg_header(&dl[i], "dlq.error.kind"), "rejected");
            found++;
        } else if (strcmp(dl[i].key, "huge") == 0) {
            cr_assert_eq(dl[i].len, 0, "refused by the broker, it goes without its value");
            cr_assert_str_eq(kmsg_header(&dl[i], "dlq.value.dropped"), "20000");
            found++;
        }
    }
    cr_assert_eq(found, 3);
    kmsgs_free(dl, nd);
    kmsgs_free(evs, ne);
    free(huge);
    rworld_close(&w);
}

/* Each post's events on the topic: versions 1..versions, once each, in order. */
static void assert_versions_in_order(struct rworld *w, int posts, int versions)
{
    struct kmsg *evs;
    size_t n = rworld_read(w, w->events, (size_t)(posts * versions) + 1, 20000, &evs);
    int *last = calloc((size_t)posts, sizeof *last);
    for (size_t i = 0; i < n; i++) {
        int k = atoi(strchr(evs[i].key, '-') + 1);
        cr_assert(k >= 0 && k < posts, "an event for %s", evs[i].key);
        json_t *ev = json_loads(evs[i].value, 0, NULL);
        json_int_t v = json_integer_value(json_object_get(json_object_get(ev, "data"), "version"));
        json_decref(ev);
        cr_assert_eq(v, last[k] + 1, "post %s: version %lld after %d", evs[i].key,
                     (long long)v, last[k]);
        last[k] = (int)v;
    }
    for (int k = 0; k < posts; k++)
        cr_assert_eq(last[k], versions, "post %d ended at version %d", k, last[k]);
    free(last);
    kmsgs_free(evs, n);
}

/*
 * Worker a alone under a stream of creates and updates (each expecting the
 * version before it); b joins; a leaves cleanly; b finishes. strategy: -X
 * partition.assignment.strategy, NULL for the worker's default.
 */
static void join_and_leave(const char *strategy)
{
    enum { POSTS = 500, VERSIONS = 6, N = POSTS * VERSIONS };
    struct rworld w;
    rworld_open(&w, 8, NULL);
    rworld_preload(&w, "j", 0, POSTS);
    for (int v = 1; v < VERSIONS; v++)
        kafka_preload_updates(w.brokers, w.commands, "/real", "j", 0, POSTS, v, 0);
    char prop[128];
    snprintf(prop, sizeof prop, "partition.assignment.strategy=%s", strategy ? strategy : "");
    const char *const args[] = {"--batch-size", "20", strategy ? "-X" : NULL, prop, NULL};
    struct rworker a = {0}, b = {0};
    rworker_start(&w, &a, args);
    cr_assert_geq(rworld_wait_for(&w, w.events, 300, 60000), 300);
    rworker_start(&w, &b, args);
    cr_assert_geq(rworld_wait_for(&w, w.events, 1500, 120000), 1500);
    cr_assert_eq(rworker_stop(&a), 0, "the first leaves cleanly");
    cr_assert_geq(rworld_wait_for(&w, w.events, N, 120000), N);
    cr_assert_eq(rworker_stop(&b), 0);
    cr_assert(rworker_logged(&b, "assigned"), "the second joined the running group");
    cr_assert(rworker_logged(&a, "partitions revoked"), "and the first gave partitions up");
    cr_assert_eq(rworker_logged(&a, "cooperative"), !strategy || strstr(strategy, "cooperative"),
                 "the protocol asked for");
    size_t total, distinct = distinct_events(&w, N, &total);
    cr_assert_eq(distinct, N, "every event published");
    cr_assert_eq(total, N, "none twice: a clean handover doubles nothing");
    assert_versions_in_order(&w, POSTS, VERSIONS);
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM posts"), POSTS);
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM posts WHERE version <> 6"), 0,
                 "every command applied once, none rejected");
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM inbox"), N);
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM outbox"), 0, "every event published");
    rworld_close(&w);
}

Test(real, cooperative_by_default_a_join_and_a_leave_mid_stream_lose_double_and_reorder_nothing,
     .timeout = 240)
{
    join_and_leave(NULL);
}

Test(real, eager_when_asked_a_join_and_a_leave_mid_stream_lose_double_and_reorder_nothing,
     .timeout = 240)
{
    join_and_leave("range,roundrobin");
}

Test(real, kill_9_under_a_stream_again_and_again_loses_and_applies_twice_nothing,
     .timeout = 300)
{
    enum { N = 3000 };
    struct rworld w;
    rworld_open(&w, 4, NULL);
    rworld_preload(&w, "k", 0, N);
    struct rworker p = {0};
    size_t seen = 0;
    for (int round = 0; round < 3; round++) {
        /* A killed member holds its partitions until its session times out: keep it short. */
        rworker_start(&w, &p, (const char *const[]){"--batch-size", "50", "-X",
                                                    "session.timeout.ms=6000", NULL});
        size_t now = rworld_wait_for(&w, w.events, seen + 400, 120000);
        cr_assert_geq(now, seen + 400, "round %d made progress", round);
        rworker_kill(&p); /* the supervisor's restart follows */
        seen = now;
    }
    rworker_start(&w, &p, (const char *const[]){"-X", "session.timeout.ms=6000", NULL});
    /* Killed workers may publish an event again: wait for the database, then the topic. */
    for (int i = 0; i < 1200 && rworld_sql(&w, "SELECT count(*) FROM posts") < N; i++)
        nap_100ms();
    cr_assert_geq(rworld_wait_for(&w, w.events, N, 60000), N);
    sleep(1);
    cr_assert_eq(rworker_stop(&p), 0);
    size_t total, distinct = distinct_events(&w, N, &total);
    cr_assert_eq(distinct, N, "every event published at least once (%zu in all)", total);
    assert_applied_once(&w, N);
    rworld_close(&w);
}

/*
 * A message that kills whoever runs it (the test build's fault: SIGKILL,
 * as the OOM killer would), with a supervisor that restarts the worker each
 * time: it kills the worker once in its batch and POSTWORKER_MAX_ATTEMPTS
 * times alone, then goes to the dead-letter topic parking its post, and
 * every other command is applied once.
 */
Test(real, a_message_that_kills_the_worker_is_dead_lettered_after_max_attempts, .timeout = 300)
{
    enum { BEFORE = 150, AFTER = 150 };
    struct rworld w;
    rworld_open(&w, 2, NULL);
    rworld_preload(&w, "before", 0, BEFORE);
    send_str(&w, "victim", CMD("CreatePost", "killer", "{\"post_id\":\"victim\","
                               "\"author_name\":\"A\",\"title\":\"T\",\"body\":\"b\"}"));
    send_str(&w, "victim", CMD("UpdatePost", "after-killer", "{\"post_id\":\"victim\","
                               "\"title\":\"T2\"}"));
    rworld_preload(&w, "after", 0, AFTER);
    struct rworker p = {.program = "build/postworker-faults", .env = "PW_TEST_KILL_ID=killer"};
    int deaths = 0, status = -1;
    for (int start = 0; start < 8; start++) {
        rworker_start(&w, &p, (const char *const[]){"--batch-size", "50", "-X",
                                                    "session.timeout.ms=6000", NULL});
        /* The supervisor: wait for it to die, or to be done. */
        for (int i = 0; i < 1200 && (status = rworker_poll(&p)) == -2; i++) {
            if (rworld_wait_for(&w, w.dlq, 1, 0) >= 1 &&
                rworld_sql(&w, "SELECT count(*) FROM posts") == BEFORE + AFTER)
                break;
            nap_100ms();
        }
        if (status != 128 + 9)
            break;
        deaths++;
    }
    cr_assert_eq(status, -2, "the worker lives on after the message is given up (status %d)",
                 status);
    /* The death of its batch only says where to look; three more while it ran alone. */
    cr_assert_eq(deaths, 4, "killed once in its batch, then POSTWORKER_MAX_ATTEMPTS times alone, "
                            "then given up: %d", deaths);
    cr_assert_geq(rworld_wait_for(&w, w.events, BEFORE + AFTER, 60000), BEFORE + AFTER);
    sleep(1);
    int stopped = rworker_stop(&p);
    cr_assert_eq(stopped, 0, "a clean stop exits 0, not %d (its log: %s)", stopped, p.log);
    struct kmsg *dl;
    cr_assert_eq(rworld_read(&w, w.dlq, 1, 20000, &dl), 1, "one dead letter, the killer's");
    cr_assert_str_eq(kmsg_header(&dl[0], "dlq.error.kind"), "failed");
    cr_assert_str_eq(kmsg_header(&dl[0], "dlq.error.code"), "max_attempts");
    cr_assert_str_eq(kmsg_header(&dl[0], "dlq.attempts"), "3", "three deaths in which it ran alone");
    cr_assert_str_eq(kmsg_header(&dl[0], "dlq.parked"), "victim", "it parks the post of its key");
    cr_assert_str_eq(dl[0].key, "victim");
    cr_assert_eq(rworld_sql(&w, "SELECT held FROM parked_posts WHERE post_id = 'victim'"), 1,
                 "the victim's next command is held behind it");
    kmsgs_free(dl, 1);
    size_t total, distinct = distinct_events(&w, BEFORE + AFTER, &total);
    cr_assert_eq(distinct, BEFORE + AFTER, "every other command's event (%zu in all)", total);
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM posts WHERE post_id = 'victim'"), 0);
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM inbox WHERE id = 'killer'"), 0,
                 "a failed command is not marked processed");
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM posts WHERE version <> 1"), 0);
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM outbox"), 0);
    rworld_close(&w);
}

/* Runs postworker MODE ARGS... to its end; its exit status. */
static int run_tool(struct rworld *w, struct rworker *p, const char *const *args)
{
    rworker_start(w, p, args);
    return rworker_wait(p, 60);
}

/*
 * The contract's redrive: a command the database refuses is failed; once
 * the cause is gone (the constraint dropped) `redrive --kind failed` sends
 * it back and it is applied; a dry run sends nothing; the other kinds stay.
 */
Test(real, redrive_sends_failed_commands_back_once_their_cause_is_fixed, .timeout = 180)
{
    struct rworld w;
    rworld_open(&w, 2, NULL);
    struct rworker p = {0}, tool = {0};
    cr_assert_eq(run_tool(&w, &tool, (const char *const[]){"migrate", NULL}), 0);
    rworld_sql(&w, "ALTER TABLE posts ADD CONSTRAINT no_forbidden CHECK (title <> 'forbidden');"
                   " SELECT 1");
    rworker_start(&w, &p, NULL);
    static const char *const hs[] = {"trace=t-9", NULL};
    rworld_send(&w, w.commands, "bad",
                CMD("CreatePost", "c-bad", "{\"post_id\":\"bad\",\"author_name\":\"A\","
                                           "\"title\":\"forbidden\",\"body\":\"b\"}"),
                strlen(CMD("CreatePost", "c-bad", "{\"post_id\":\"bad\",\"author_name\":"
                                                  "\"A\",\"title\":\"forbidden\","
                                                  "\"body\":\"b\"}")),
                hs);
    rworld_send(&w, w.commands, "junk", "{nope", 5, NULL);
    send_str(&w, "ghost", CMD("DeletePost", "d-ghost", "{\"post_id\":\"ghost\"}"));
    send_str(&w, "arch", CMD("ArchivePost", "a-1", "{\"post_id\":\"arch\"}"));
    send_str(&w, "good", CMD("CreatePost", "c-good", "{\"post_id\":\"good\",\"author_name\":"
                                                     "\"A\",\"title\":\"T\",\"body\":\"b\"}"));
    cr_assert_eq(rworld_wait_for(&w, w.dlq, 4, 60000), 4, "failed, malformed, rejected, unsupported");
    cr_assert_eq(rworld_wait_for(&w, w.events, 1, 60000), 1);
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM posts WHERE post_id = 'bad'"), 0);

    /* A dry run lists and sends nothing. */
    cr_assert_eq(run_tool(&w, &tool, (const char *const[]){"redrive", "--kind", "failed",
                                                           "--dry-run", NULL}), 0);
    cr_assert(rworker_logged(&tool, "1 would be sent"), "see %s", tool.log);
    cr_assert(rworker_logged(&tool, "key 'bad'"), "the dry run lists what it would send");
    sleep(1);
    cr_assert_eq(rworld_wait_for(&w, w.commands, 6, 0), 5, "the dry run sent nothing");

    /* The cause fixed, the failed command goes back and is applied; nothing else moves. */
    rworld_sql(&w, "ALTER TABLE posts DROP CONSTRAINT no_forbidden; SELECT 1");
    cr_assert_eq(run_tool(&w, &tool, (const char *const[]){"redrive", "--kind", "failed", NULL}),
                 0);
    cr_assert(rworker_logged(&tool, "1 sent"), "see %s", tool.log);
    cr_assert(rworker_logged(&tool, "skipped 3 that did not match"), "see %s", tool.log);
    for (int i = 0; i < 600 && rworld_sql(&w, "SELECT count(*) FROM posts WHERE post_id = 'bad'") < 1;
         i++)
        nap_100ms();
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM posts WHERE post_id = 'bad'"), 1);
    cr_assert_eq(rworld_wait_for(&w, w.events, 2, 60000), 2);
    cr_assert_eq(rworld_wait_for(&w, w.commands, 7, 0), 6, "one command sent back, no other");
    struct kmsg *cmds;
    size_t nc = rworld_read(&w, w.commands, 6, 20000, &cmds);
    cr_assert_eq(nc, 6);
    const struct kmsg *back = NULL;
    for (size_t i = 0; i < nc; i++)
        if (kmsg_header(&cmds[i], "dlq.redriven.from"))
            back = &cmds[i];
    cr_assert(back, "the redriven command says where it came from");
    cr_assert_str_eq(back->key, "bad");
    cr_assert_str_eq(kmsg_header(back, "trace"), "t-9", "with the original's headers");
    cr_assert_null(kmsg_header(back, "dlq.error.code"), "and none of the dead letter's");
    kmsgs_free(cmds, nc);

    /* Again: a duplicate to the worker, so nothing changes; the other kinds still wait. */
    cr_assert_eq(run_tool(&w, &tool, (const char *const[]){"redrive", "--kind", "failed", NULL}),
                 0);
    sleep(2);
    cr_assert_eq(rworker_stop(&p), 0);
    cr_assert_eq(rworld_wait_for(&w, w.events, 3, 0), 2, "a second redrive publishes nothing new");
    cr_assert_eq(rworld_wait_for(&w, w.dlq, 5, 0), 4, "nor dead-letters anything again");
    cr_assert_eq(rworld_sql(&w, "SELECT version FROM posts WHERE post_id = 'bad'"), 1);
    rworld_close(&w);
}

#define GOOD_DATA(key, title) \
    "{\"post_id\":\"" key "\",\"author_name\":\"A\",\"title\":\"" title "\",\"body\":\"b\"}"

/* Each hostile message of the audit, by key, and what must become of it. */
struct hostile {
    const char *key;
    const char *code; /* its dead letter's dlq.error.code; NULL: it is a good command */
    bool self_creates; /* it creates its post itself (the next command is then an update) */
};

static const struct hostile hostiles[] = {
    {"h-big", "invalid_json", false},          /* a dead letter over 1,000,000 bytes */
    {"h-time-hi", "invalid_attribute", false}, /* year 10000 once in UTC */
    {"h-time-lo", "invalid_attribute", false}, /* year 0 once in UTC */
    {"h-kts", "invalid_attribute", false},     /* a Kafka timestamp past year 9999 */
    {"h-kts-max", "invalid_attribute", false}, /* the largest Kafka timestamp there is */
    {"h-ce-many", NULL, true},                 /* 5,000 unknown ce_ headers: fine */
    {"h-ce-dup", "invalid_attribute", false},  /* ce_id twice */
    {"h-num-e400", "validation_failed", false},
    {"h-num-23", "validation_failed", false},
    {"h-check", "apply_failed", false},        /* a title the database refuses */
    {"h-forge", "not_found", false},           /* an id that would forge a log line */
    {"h-unknown", "unknown_type", false},      /* a type nobody handles */
    {"h-null", "invalid_json", false},         /* a null value */
    {"h-utf8", "invalid_json", false},         /* bytes that are not UTF-8 */
};
#define NHOSTILE (sizeof hostiles / sizeof hostiles[0])

static void send_hostile(struct rworld *w, const struct hostile *h)
{
    const char *k = h->key;
    char buf[1024];
    if (strcmp(k, "h-big") == 0) {
        size_t n = 1000100;
        char *v = malloc(n);
        memset(v, 'x', n);
        v[0] = '{';
        rworld_send_raw(w, k, v, n, NULL, 0);
        free(v);
    } else if (strcmp(k, "h-time-hi") == 0 || strcmp(k, "h-time-lo") == 0) {
        snprintf(buf, sizeof buf,
                 "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"/real\",\"type\":"
                 "\"CreatePost\",\"time\":\"%s\",\"data\":{\"post_id\":\"%s\","
                 "\"author_name\":\"A\",\"title\":\"T\",\"body\":\"b\"}}",
                 k, k[7] == 'h' ? "9999-12-31T23:59:59-01:00" : "0001-01-01T00:00:00+01:00", k);
        send_str(w, k, buf);
    } else if (strncmp(k, "h-kts", 5) == 0) {
        snprintf(buf, sizeof buf,
                 "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"/real\",\"type\":"
                 "\"CreatePost\",\"data\":{\"post_id\":\"%s\",\"author_name\":\"A\","
                 "\"title\":\"T\",\"body\":\"b\"}}",
                 k, k);
        rworld_send_raw(w, k, buf, strlen(buf), NULL,
                        k[5] ? INT64_MAX : 253402300800000LL /* 10000-01-01 */);
    } else if (strncmp(k, "h-ce-", 5) == 0) {
        bool dup = k[5] == 'd';
        enum { UNKNOWN = 5000 };
        static char names[UNKNOWN][16];
        static const char *hs[2 * (UNKNOWN + 8) + 1];
        size_t n = 0;
        const char *fixed[] = {"ce_specversion", "1.0", "ce_id", k, "ce_source", "/real",
                               "ce_type", "CreatePost", "content-type", "application/json"};
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
            hs[n++] = fixed[i];
        if (dup) {
            hs[n++] = "ce_id";
            hs[n++] = "another";
        } else {
            for (int i = 0; i < UNKNOWN; i++) {
                snprintf(names[i], sizeof names[i], "ce_x%d", i);
                hs[n++] = names[i];
                hs[n++] = "v";
            }
        }
        hs[n] = NULL;
        snprintf(buf, sizeof buf, GOOD_DATA("%s", "T"), k);
        rworld_send_raw(w, k, buf, strlen(buf), hs, 0);
    } else if (strncmp(k, "h-num-", 6) == 0) {
        snprintf(buf, sizeof buf,
                 "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"/real\",\"type\":"
                 "\"DeletePost\",\"data\":{\"post_id\":\"%s\",\"expected_version\":%s}}",
                 k, k, k[6] == 'e' ? "1e400" : "12345678901234567890123");
        send_str(w, k, buf);
    } else if (strcmp(k, "h-check") == 0) {
        /* The author, not the title: an update in the same batch changes the title. */
        send_str(w, k, CMD("CreatePost", "h-check", "{\"post_id\":\"h-check\",\"author_name\":"
                                                    "\"forbidden\",\"title\":\"T\",\"body\":\"b\"}"));
    } else if (strcmp(k, "h-forge") == 0) {
        send_str(w, k, "{\"specversion\":\"1.0\",\"id\":\"x\\n2026-11-21T00:00:00Z postworker "
                       "error: forged\\u001b[31m\",\"source\":\"/real\",\"type\":\"DeletePost\","
                       "\"data\":{\"post_id\":\"h-forge\"}}");
    } else if (strcmp(k, "h-unknown") == 0) {
        send_str(w, k, CMD("ArchivePost", "h-unknown", "{\"post_id\":\"h-unknown\"}"));
    } else if (strcmp(k, "h-null") == 0) {
        rworld_send_raw(w, k, NULL, 0, NULL, 0);
    } else if (strcmp(k, "h-utf8") == 0) {
        static const char v[] = "{\"specversion\":\"1.0\",\"id\":\"u\xff\xfe\",\"source\":"
                                "\"/real\",\"type\":\"CreatePost\",\"data\":{}}";
        rworld_send_raw(w, k, v, sizeof v - 1, NULL, 0);
    }
}

/*
 * The end state: every hostile message of the audit in one stream,
 * each followed by good commands on its key. One worker on PostgreSQL
 * applies every good command (but those held behind the one the database
 * refused, which parks its post), dead-letters every hostile one with its
 * code, never exits, and stops with 0 on SIGTERM.
 */
Test(real, every_hostile_message_in_one_stream_leaves_the_worker_running, .timeout = 240)
{
    struct rworld w;
    rworld_open(&w, 4, NULL);
    struct rworker p = {0}, tool = {0};
    cr_assert_eq(run_tool(&w, &tool, (const char *const[]){"migrate", NULL}), 0);
    rworld_sql(&w, "ALTER TABLE posts ADD CONSTRAINT no_forbidden"
                   " CHECK (author_name <> 'forbidden');"
                   " SELECT 1");
    rworker_start(&w, &p, NULL);
    size_t ndead = 0;
    for (size_t i = 0; i < NHOSTILE; i++) {
        const struct hostile *h = &hostiles[i];
        char id[64], buf[1024];
        send_hostile(&w, h);
        ndead += h->code != NULL;
        if (!h->self_creates) {
            snprintf(id, sizeof id, "good-create-%s", h->key);
            snprintf(buf, sizeof buf,
                     "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"/real\",\"type\":"
                     "\"CreatePost\",\"time\":\"2026-11-20T10:00:00Z\",\"data\":" GOOD_DATA("%s", "T") "}",
                     id, h->key);
            send_str(&w, h->key, buf);
        }
        snprintf(id, sizeof id, "good-update-%s", h->key);
        snprintf(buf, sizeof buf,
                 "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"/real\",\"type\":"
                 "\"UpdatePost\",\"time\":\"2026-11-20T11:00:00Z\",\"data\":{\"post_id\":\"%s\","
                 "\"title\":\"v2\"}}",
                 id, h->key);
        send_str(&w, h->key, buf);
        cr_assert_eq(rworker_poll(&p), -2, "the worker lives after '%s'", h->key);
    }
    /* h-check's failed command parks its post: its two good commands are held behind it. */
    cr_assert_eq(rworld_wait_for(&w, w.events, 2 * NHOSTILE - 2, 90000), 2 * NHOSTILE - 2,
                 "every good command's event, but the two held");
    cr_assert_eq(rworld_wait_for(&w, w.dlq, ndead, 30000), ndead);
    sleep(1);
    cr_assert_eq(rworker_poll(&p), -2, "it never exited");
    cr_assert_eq(rworker_stop(&p), 0, "and stops cleanly on SIGTERM");
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM posts WHERE version = 2 AND title = 'v2'"),
                 (long long)NHOSTILE - 1, "every good command applied, in order on its key");
    cr_assert_eq(rworld_sql(&w, "SELECT held FROM parked_posts WHERE post_id = 'h-check'"), 2,
                 "but h-check's, held behind its failed command");
    struct kmsg *dl;
    size_t nd = rworld_read(&w, w.dlq, ndead + 1, 20000, &dl);
    cr_assert_eq(nd, ndead, "one dead letter for each hostile message, no more");
    for (size_t i = 0; i < NHOSTILE; i++) {
        const struct hostile *h = &hostiles[i];
        size_t found = 0;
        for (size_t j = 0; j < nd; j++)
            if (dl[j].key && strcmp(dl[j].key, h->key) == 0) {
                found++;
                cr_assert_str_eq(kmsg_header(&dl[j], "dlq.error.code"), h->code, "%s", h->key);
                if (strcmp(h->code, "apply_failed") == 0)
                    cr_assert_str_eq(kmsg_header(&dl[j], "dlq.parked"), h->key);
            }
        cr_assert_eq(found, h->code ? 1 : 0, "%s: %zu dead letters", h->key, found);
    }
    for (size_t j = 0; j < nd; j++)
        if (strcmp(dl[j].key, "h-big") == 0)
            cr_assert_eq(dl[j].len, 1000100, "the big one carries its whole value");
    kmsgs_free(dl, nd);
    FILE *f = fopen(p.log, "r");
    cr_assert(f);
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        cr_assert_null(strstr(line, "\x1b"), "no escape sequence reaches the log: %s", line);
        cr_assert(strncmp(line, "2026-11-21T00:00:00Z postworker error: forged", 45) != 0,
                  "no forged line");
    }
    fclose(f);
    cr_assert(rworker_logged(&p, "forged"), "the forging id is shown, escaped");
    rworld_close(&w);
}

/* A suite of its own, on a cluster of its own: stopping the broker would stall every other test. */
Test(real_restart, a_broker_restart_mid_stream_is_waited_out, .timeout = 240)
{
    enum { N = 2000 };
    struct rworld w;
    rworld_open(&w, 4, NULL);
    rworld_preload(&w, "b", 0, N / 2);
    struct rworker p = {0};
    rworker_start(&w, &p, (const char *const[]){"--batch-size", "20", NULL});
    cr_assert_geq(rworld_wait_for(&w, w.events, 200, 60000), 200);
    for (int node = 1; node <= atoi(getenv("PW_KAFKA_NODES")); node++)
        rworld_ctl("stop", node);
    sleep(3);
    for (int node = 1; node <= atoi(getenv("PW_KAFKA_NODES")); node++)
        rworld_ctl("start", node);
    rworld_preload(&w, "b", N / 2, N / 2);
    for (int i = 0; i < 1200 && rworld_sql(&w, "SELECT count(*) FROM posts") < N; i++)
        nap_100ms();
    cr_assert_geq(rworld_wait_for(&w, w.events, N, 120000), N);
    cr_assert_eq(rworker_stop(&p), 0);
    size_t total, distinct = distinct_events(&w, N, &total);
    cr_assert_eq(distinct, N, "every event published (%zu in all)", total);
    assert_applied_once(&w, N);
    rworld_close(&w);
}

Test(real, replay_from_a_time_starts_where_the_broker_says, .timeout = 120)
{
    struct rworld w;
    rworld_open(&w, 4, NULL);
    rworld_preload(&w, "early", 0, 20);
    sleep(2);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    time_t t = now.tv_sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    char from[32];
    strftime(from, sizeof from, "%Y-%m-%dT%H:%M:%SZ", &tm);
    sleep(2);
    rworld_preload(&w, "late", 0, 30);
    /* Into an empty database: only what was sent after the time is applied. */
    struct rworker p = {0};
    rworker_start(&w, &p, (const char *const[]){"replay", "--from-time", from, "--no-publish", NULL});
    cr_assert_eq(rworker_wait(&p, 60), 0, "the replay ends by itself");
    cr_assert(rworker_logged(&p, "the broker looked up where each partition starts"),
              "the broker's own offset lookup, not the fallback");
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM posts"), 30);
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM posts WHERE post_id LIKE 'early-%'"), 0);
    cr_assert_eq(rworld_wait_for(&w, w.events, 1, 2000), 0, "--no-publish: nothing published");
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM outbox"), 0, "and nothing left to publish");
    rworld_close(&w);
}

Test(real, commands_deleted_by_retention_before_they_were_read_are_reported, .timeout = 120)
{
    struct rworld w;
    rworld_open(&w, 1, NULL);
    rworld_preload(&w, "r", 0, 10);
    struct rworker p = {0};
    rworker_start(&w, &p, NULL);
    cr_assert_geq(rworld_wait_for(&w, w.events, 10, 60000), 10);
    cr_assert_eq(rworker_stop(&p), 0);
    /* While no worker runs, 20 more arrive and retention takes the first 15 of them. */
    rworld_preload(&w, "r", 10, 20);
    rworld_delete_records(&w, w.commands, 0, 25);
    rworker_start(&w, &p, NULL);
    cr_assert_geq(rworld_wait_for(&w, w.events, 15, 60000), 15);
    cr_assert_eq(rworker_stop(&p), 0);
    cr_assert(rworker_logged(&p, "15 commands (offsets 10 to 24) were deleted by the broker's "
                                 "retention before they were read"),
              "the loss is reported with its count (see %s)", p.log);
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM posts"), 15);
    rworld_close(&w);
}

/*
 * The broker's retention overtakes a worker that is running: frozen (a
 * paused VM) at offset 10, it wakes to find 10 to 24 deleted. On the
 * embedded broker librdkafka then delivered nothing more for any partition
 * (docs/benchmark.md); on Apache Kafka the worker must read on from 25, and say
 * how many it lost.
 */
Test(real, retention_that_overtakes_a_frozen_worker_does_not_stop_it, .timeout = 120)
{
    struct rworld w;
    rworld_open(&w, 1, NULL);
    rworld_preload(&w, "o", 0, 10);
    struct rworker p = {0};
    rworker_start(&w, &p, NULL);
    cr_assert_geq(rworld_wait_for(&w, w.events, 10, 60000), 10);
    cr_assert_eq(kill(p.pid, SIGSTOP), 0);
    /* Its fetch under way ends empty first (fetch.wait.max.ms, 500): none asks for 10 on. */
    nanosleep(&(struct timespec){1, 500 * 1000 * 1000}, NULL);
    rworld_preload(&w, "o", 10, 20);
    rworld_delete_records(&w, w.commands, 0, 25);
    cr_assert_eq(kill(p.pid, SIGCONT), 0);
    rworld_preload(&w, "o", 30, 5);
    cr_assert_geq(rworld_wait_for(&w, w.events, 20, 60000), 20,
                  "the 5 left and the 5 after them (see %s)", p.log);
    cr_assert_eq(rworker_stop(&p), 0);
    long long posts = rworld_sql(&w, "SELECT count(*) FROM posts");
    cr_assert_eq(posts, 20, "%lld posts (see %s)", posts, p.log);
    cr_assert(rworker_logged(&p, "15 commands (offsets 10 to 24) were deleted by the broker's "
                                 "retention before they were read"),
              "the loss is reported with its count, as at an assignment (see %s)", p.log);
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM posts WHERE post_id BETWEEN 'o-10' AND "
                                "'o-24' AND length(post_id) = 4"), 0);
    rworld_close(&w);
}

/*
 * The inbox's default retention starts from the longest the commands topic
 * may keep a command: a segment is deleted only once its newest message is
 * past retention.ms, and a compacted topic keeps a key's last forever.
 */
Test(real, the_topic_says_how_long_it_may_keep_a_command, .timeout = 120)
{
    struct rworld w;
    rworld_open(&w, 1, NULL);
    static const struct {
        const char *config;
        int64_t ms;
    } topics[] = {
        {"retention.ms=3600000;segment.ms=600000", 4200000},
        {"retention.ms=-1", -1},
        {"cleanup.policy=compact;retention.ms=3600000", -1},
        {"cleanup.policy=compact,delete;retention.ms=3600000;segment.ms=60000", 3660000},
        {"retention.ms=9223372036854775000;segment.ms=600000", -1},
        {"retention.ms=3155760000000;segment.ms=1", -1}, /* a century and a millisecond */
    };
    struct pw_kafka_settings ks = {.brokers = w.brokers};
    for (size_t i = 0; i < sizeof topics / sizeof *topics; i++) {
        char topic[96];
        snprintf(topic, sizeof topic, "%s-keep%zu", w.commands, i);
        rworld_topic(w.brokers, topic, 1, topics[i].config);
        int64_t ms = 0;
        struct pw_errbuf err;
        cr_assert_eq(pw_kafka_topic_retention(&ks, topic, &ms, &err), PW_OK, "%s", err.msg);
        cr_assert_eq(ms, topics[i].ms, "%s: %lld ms", topics[i].config, (long long)ms);
    }
    rworld_close(&w);
}

/* Three nodes, three replicas, min.insync.replicas=2: the leader dies mid-stream. */
Test(real3, the_leader_killed_mid_stream_loses_doubles_and_reorders_nothing, .timeout = 300)
{
    if (atoi(getenv("PW_KAFKA_NODES") ? getenv("PW_KAFKA_NODES") : "0") != 3)
        cr_assert_fail("needs three nodes: tools/with-kafka --nodes 3 (make kafka-real does)");
    enum { POSTS = 600, UPDATES = 3 };
    struct rworld w;
    rworld_open(&w, 4, NULL);
    /* Each post: a create and three updates, so that order per post shows. */
    struct pw_kafka_settings ks = {.brokers = w.brokers};
    struct pw_kafka_client *c;
    struct pw_errbuf err;
    cr_assert_eq(pw_kafka_client_new(&c, &ks, &err), PW_OK, "%s", err.msg);
    for (int v = 0; v <= UPDATES; v++)
        for (int i = 0; i < POSTS; i++) {
            char key[32], json[512];
            snprintf(key, sizeof key, "l-%d", i);
            int len = v == 0 ? snprintf(json, sizeof json,
                                        "{\"specversion\":\"1.0\",\"id\":\"%s-0\",\"source\":"
                                        "\"/real\",\"type\":\"CreatePost\",\"data\":{\"post_id\":"
                                        "\"%s\",\"author_name\":\"A\",\"title\":\"T\",\"body\":\"b\"}}",
                                        key, key)
                             : snprintf(json, sizeof json,
                                        "{\"specversion\":\"1.0\",\"id\":\"%s-%d\",\"source\":"
                                        "\"/real\",\"type\":\"UpdatePost\",\"data\":{\"post_id\":"
                                        "\"%s\",\"title\":\"v%d\",\"expected_version\":%d}}",
                                        key, v, key, v + 1, v);
            cr_assert_eq(pw_kafka_client_produce(c, w.commands, key, json, (size_t)len, NULL, &err),
                         PW_OK, "%s", err.msg);
        }
    cr_assert_eq(pw_kafka_client_flush(c, &err), 0, "%s", err.msg);
    pw_kafka_client_free(c);
    const size_t N = POSTS * (UPDATES + 1);

    struct rworker p = {0};
    rworker_start(&w, &p, (const char *const[]){"--batch-size", "50", NULL});
    cr_assert_geq(rworld_wait_for(&w, w.events, N / 5, 120000), N / 5);
    /* One node: two of three down would be below min.insync.replicas, and the quorum. */
    int leader = rworld_leader(&w, w.commands, 0);
    bool leads_events = false;
    for (int32_t part = 0; part < 4; part++)
        leads_events |= rworld_leader(&w, w.events, part) == leader;
    cr_assert(leads_events, "node %d leads partitions of both topics", leader);
    rworld_ctl("kill", leader);
    for (int i = 0; i < 1800 && rworld_sql(&w, "SELECT count(*) FROM inbox") < (long long)N; i++)
        nap_100ms();
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM inbox"), (long long)N,
                 "every command applied, the new leaders serving");
    for (int i = 0; i < 600 && rworld_sql(&w, "SELECT count(*) FROM outbox") > 0; i++)
        nap_100ms();
    cr_assert_eq(rworker_stop(&p), 0);
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM posts WHERE version <> 4"), 0,
                 "each post at its last version: nothing applied twice or skipped");
    cr_assert_eq(rworld_sql(&w, "SELECT count(*) FROM outbox"), 0);

    /* Every event, and per post the first sighting of each version in order. */
    struct kmsg *evs;
    size_t n = rworld_read(&w, w.events, N * 2, 30000, &evs);
    cr_assert_geq(n, N);
    int *next = calloc(POSTS, sizeof *next);
    for (size_t i = 0; i < n; i++) {
        json_t *ev = json_loads(evs[i].value, 0, NULL);
        int post = atoi(field(ev, "data", "post_id") + 2);
        int version = (int)json_integer_value(
            json_object_get(json_object_get(ev, "data"), "version"));
        cr_assert_leq(version, next[post] + 1, "post %d: version %d before %d", post, version,
                      next[post] + 1);
        if (version == next[post] + 1)
            next[post] = version;
        json_decref(ev);
    }
    for (int i = 0; i < POSTS; i++)
        cr_assert_eq(next[i], UPDATES + 1, "post %d: every version published", i);
    free(next);
    kmsgs_free(evs, n);
    rworld_close(&w);
}
