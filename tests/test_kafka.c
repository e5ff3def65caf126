/*
 * The worker on Kafka, end to end, against librdkafka's mock cluster in this
 * process: commands in, state changed, events and dead letters out.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapters/kafka/client_kafka.h"
#include "adapters/kafka/conf.h"
#include "tests/kafka_world.h"

#define CMD(type, id, data)                                                                   \
    "{\"specversion\":\"1.0\",\"id\":\"" id "\",\"source\":\"/t\",\"type\":\"" type "\","    \
    "\"time\":\"2026-11-20T10:00:00Z\",\"data\":" data "}"

static const char *str(json_t *obj, const char *path1, const char *path2)
{
    json_t *v = json_object_get(obj, path1);
    if (path2)
        v = json_object_get(v, path2);
    return json_string_value(v);
}

Test(kafka, create_update_delete_end_to_end_with_every_event_field, .timeout = 60)
{
    struct kworld kw;
    kworld_open(&kw, 100);
    kworld_start(&kw);
    kworld_send(&kw, "post-commands", "hello-world",
                CMD("CreatePost", "c-7f3a9",
                    "{\"post_id\":\"hello-world\",\"author_name\":\"Ada\",\"title\":\"Hello\","
                    "\"body\":\"First post\"}"), NULL);
    kworld_send(&kw, "post-commands", "hello-world",
                "{\"specversion\":\"1.0\",\"id\":\"c-2\",\"source\":\"/t\",\"type\":\"UpdatePost\","
                "\"time\":\"2026-11-20T11:00:00Z\",\"correlationid\":\"flow-1\","
                "\"data\":{\"post_id\":\"hello-world\",\"title\":\"Hello again\","
                "\"expected_version\":1}}", NULL);
    kworld_send(&kw, "post-commands", "hello-world",
                "{\"specversion\":\"1.0\",\"id\":\"c-3\",\"source\":\"/t\",\"type\":\"DeletePost\","
                "\"time\":\"2026-11-20T12:00:00Z\",\"data\":{\"post_id\":\"hello-world\"}}", NULL);
    struct kmsg *evs;
    size_t n = kworld_read(&kw, "post-events", 3, 20000, &evs);
    cr_assert_eq(n, 3);
    kworld_stop(&kw);
    cr_assert_eq(kw.rc, PW_OK, "%s", kw.err.msg);

    static const char *types[] = {"PostCreated", "PostUpdated", "PostDeleted"};
    static const char *causes[] = {"c-7f3a9", "c-2", "c-3"};
    static const char *corrs[] = {"c-7f3a9", "flow-1", "c-3"};
    static const char *times[] = {"2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z",
                                  "2026-11-20T12:00:00Z"};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_str_eq(evs[i].key, "hello-world");
        cr_assert_str_eq(kmsg_header(&evs[i], "content-type"), "application/cloudevents+json");
        json_t *ev = json_loads(evs[i].value, 0, NULL);
        cr_assert(ev);
        cr_assert_str_eq(str(ev, "specversion", NULL), "1.0");
        cr_assert_eq(strlen(str(ev, "id", NULL)), 36);
        cr_assert_str_eq(str(ev, "source", NULL), "/postworker");
        cr_assert_str_eq(str(ev, "type", NULL), types[i]);
        cr_assert_str_eq(str(ev, "subject", NULL), "hello-world");
        cr_assert_str_eq(str(ev, "time", NULL), times[i]);
        cr_assert_str_eq(str(ev, "datacontenttype", NULL), "application/json");
        cr_assert_str_eq(str(ev, "causationid", NULL), causes[i]);
        cr_assert_str_eq(str(ev, "correlationid", NULL), corrs[i]);
        json_t *data = json_object_get(ev, "data");
        cr_assert_str_eq(str(data, "post_id", NULL), "hello-world");
        cr_assert_str_eq(str(data, "author_name", NULL), "Ada");
        cr_assert_str_eq(str(data, "title", NULL), i ? "Hello again" : "Hello");
        cr_assert_str_eq(str(data, "body", NULL), "First post");
        cr_assert_eq(json_integer_value(json_object_get(data, "version")), (json_int_t)i + 1);
        cr_assert_str_eq(str(data, "created_at", NULL), times[0]);
        cr_assert_str_eq(str(data, "updated_at", NULL), times[i]);
        if (i < 2)
            cr_assert(json_is_null(json_object_get(data, "deleted_at")));
        else
            cr_assert_str_eq(str(data, "deleted_at", NULL), times[2]);
        json_decref(ev);
    }
    cr_assert_eq(kw.stats.applied, 3);
    kmsgs_free(evs, n);
    kworld_close(&kw);
}

Test(kafka, binary_mode_commands_are_applied, .timeout = 60)
{
    struct kworld kw;
    kworld_open(&kw, 100);
    kworld_start(&kw);
    const char *hs[] = {"ce_specversion=1.0", "ce_id=b-1", "ce_source=/bin", "ce_type=CreatePost",
                        "ce_correlationid=k-9", NULL};
    kworld_send(&kw, "post-commands", "bin-post",
                "{\"post_id\":\"bin-post\",\"author_name\":\"B\",\"title\":\"T\",\"body\":\"b\"}", hs);
    struct kmsg *evs;
    size_t n = kworld_read(&kw, "post-events", 1, 20000, &evs);
    cr_assert_eq(n, 1);
    json_t *ev = json_loads(evs[0].value, 0, NULL);
    cr_assert_str_eq(str(ev, "causationid", NULL), "b-1");
    cr_assert_str_eq(str(ev, "correlationid", NULL), "k-9");
    cr_assert_str_eq(str(ev, "data", "post_id"), "bin-post");
    cr_assert_not_null(str(ev, "time", NULL), "the Kafka timestamp is the effect time");
    json_decref(ev);
    kmsgs_free(evs, n);
    kworld_close(&kw);
}

Test(kafka, each_dead_letter_kind_keeps_the_original_bytes_and_says_why, .timeout = 60)
{
    struct kworld kw;
    kworld_open(&kw, 100);
    kworld_start(&kw);
    const char *trace[] = {"trace=abc", NULL};
    const char *bad_json = "{not json";
    const char *unknown = CMD("PublishPost", "u-1", "{\"post_id\":\"p\"}");
    const char *rejected = CMD("UpdatePost", "r-1", "{\"post_id\":\"nope\",\"title\":\"t\"}");
    kworld_send(&kw, "post-commands", "k1", bad_json, trace);
    kworld_send(&kw, "post-commands", "k2", unknown, NULL);
    kworld_send(&kw, "post-commands", "nope", rejected, NULL);
    struct kmsg *dl;
    size_t n = kworld_read(&kw, "post-commands.dlq", 3, 20000, &dl);
    cr_assert_eq(n, 3);
    kworld_stop(&kw);
    static const struct {
        const char *key, *value, *kind, *code;
    } want[] = {{"k1", NULL, "malformed", "invalid_json"},
                {"k2", NULL, "unsupported", "unknown_type"},
                {"nope", NULL, "rejected", "not_found"}};
    const char *values[] = {bad_json, unknown, rejected};
    for (size_t w = 0; w < 3; w++) {
        const struct kmsg *m = NULL;
        for (size_t i = 0; i < n; i++)
            if (strcmp(dl[i].key, want[w].key) == 0)
                m = &dl[i];
        cr_assert_not_null(m, "dead letter keyed %s", want[w].key);
        cr_assert_eq(m->len, strlen(values[w]));
        cr_assert_str_eq(m->value, values[w], "value byte for byte");
        cr_assert_str_eq(kmsg_header(m, "dlq.error.kind"), want[w].kind);
        cr_assert_str_eq(kmsg_header(m, "dlq.error.code"), want[w].code);
        cr_assert_not_null(kmsg_header(m, "dlq.error.message"));
        cr_assert_str_eq(kmsg_header(m, "dlq.original.topic"), "post-commands");
        cr_assert_not_null(kmsg_header(m, "dlq.original.partition"));
        cr_assert_not_null(kmsg_header(m, "dlq.original.offset"));
        if (w == 0)
            cr_assert_str_eq(kmsg_header(m, "trace"), "abc", "original headers kept");
    }
    cr_assert_eq(kw.stats.dead_letters, 3);
    cr_assert_eq(kw.rc, PW_OK);
    kmsgs_free(dl, n);
    kworld_close(&kw);
}

Test(kafka, a_redelivered_command_is_applied_once_and_a_rejection_dead_lettered_once,
     .timeout = 60)
{
    struct kworld kw;
    kworld_open(&kw, 100);
    kworld_start(&kw);
    const char *create = CMD("CreatePost", "d-1",
                             "{\"post_id\":\"dup\",\"author_name\":\"A\",\"title\":\"T\",\"body\":\"b\"}");
    const char *reject = CMD("DeletePost", "d-2", "{\"post_id\":\"ghost\"}");
    for (int i = 0; i < 3; i++) {
        kworld_send(&kw, "post-commands", "dup", create, NULL);
        kworld_send(&kw, "post-commands", "ghost", reject, NULL);
    }
    /* A marker after them: once its event is out, the duplicates were handled. */
    kworld_send(&kw, "post-commands", "dup",
                CMD("UpdatePost", "d-3", "{\"post_id\":\"dup\",\"title\":\"T2\"}"), NULL);
    struct kmsg *evs, *dl;
    size_t n = kworld_read(&kw, "post-events", 2, 20000, &evs);
    cr_assert_eq(n, 2);
    kworld_stop(&kw);
    kmsgs_free(evs, n);
    n = kworld_read(&kw, "post-events", 3, 1500, &evs);
    cr_assert_eq(n, 2, "one create and one update, nothing more");
    kmsgs_free(evs, n);
    size_t nd = kworld_read(&kw, "post-commands.dlq", 3, 1500, &dl);
    cr_assert_eq(nd, 1, "rejected once, then duplicates");
    cr_assert_eq(kw.stats.duplicates, 4);
    cr_assert_eq(kw.stats.applied, 2);
    kmsgs_free(dl, nd);
    kworld_close(&kw);
}

Test(kafka, two_hundred_updates_to_one_post_come_out_in_version_order, .timeout = 90)
{
    struct kworld kw;
    kworld_open(&kw, 50);
    kworld_send(&kw, "post-commands", "busy",
                CMD("CreatePost", "v-0",
                    "{\"post_id\":\"busy\",\"author_name\":\"A\",\"title\":\"T\",\"body\":\"b\"}"),
                NULL);
    for (int i = 1; i <= 200; i++) {
        char json[512];
        snprintf(json, sizeof json,
                 "{\"specversion\":\"1.0\",\"id\":\"v-%d\",\"source\":\"/t\",\"type\":"
                 "\"UpdatePost\",\"data\":{\"post_id\":\"busy\",\"title\":\"t%d\","
                 "\"expected_version\":%d}}",
                 i, i, i);
        kworld_send(&kw, "post-commands", "busy", json, NULL);
    }
    kworld_start(&kw);
    struct kmsg *evs;
    size_t n = kworld_read(&kw, "post-events", 201, 40000, &evs);
    kworld_stop(&kw);
    cr_assert_eq(n, 201);
    for (size_t i = 0; i < n; i++) {
        json_t *ev = json_loads(evs[i].value, 0, NULL);
        json_int_t v = json_integer_value(json_object_get(json_object_get(ev, "data"), "version"));
        cr_assert_eq(v, (json_int_t)i + 1, "event %zu", i);
        json_decref(ev);
    }
    cr_assert_eq(kw.stats.rejected, 0, "every expected_version matched");
    kmsgs_free(evs, n);
    kworld_close(&kw);
}

Test(kafka, a_clean_stop_mid_stream_loses_and_doubles_nothing, .timeout = 120)
{
    enum { N = 3000 };
    struct kworld kw;
    kworld_open(&kw, 100);
    kworld_preload(&kw, "post", 0, N);

    kw.stop_after = 300; /* mid-stream: it finishes the batch in hand and commits */
    kworld_start(&kw);
    kworld_wait(&kw);
    kw.stop_after = 0;
    struct kmsg *evs;
    cr_assert_eq(kw.rc, PW_OK, "%s", kw.err.msg);
    struct pw_loop_stats first = kw.stats;
    cr_assert_geq(first.applied, 300);
    cr_assert_lt(first.applied, N, "stopped before the end");

    kworld_start(&kw); /* a new run, as after a restart, on the same store */
    size_t n = kworld_read(&kw, "post-events", N, 60000, &evs);
    kworld_stop(&kw);
    cr_assert_eq(n, N, "every command's event, once");
    struct kmsg *more;
    size_t extra = kworld_read(&kw, "post-events", N + 1, 1000, &more);
    cr_assert_eq(extra, N, "and no more");
    kmsgs_free(more, extra);
    char *seen_ids = calloc(N, 1);
    for (size_t i = 0; i < n; i++) {
        int k = atoi(evs[i].key + strlen("post-"));
        cr_assert(!seen_ids[k], "post-%d published twice", k);
        seen_ids[k] = 1;
    }
    cr_assert_eq(first.applied + kw.stats.applied, N);
    free(seen_ids);
    kmsgs_free(evs, n);
    kworld_close(&kw);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every event id of evs[0..n), sorted, into ids (the caller frees). */
static char **event_ids(struct kmsg *evs, size_t n)
{
    char **ids = calloc(n ? n : 1, sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        json_t *ev = json_loads(evs[i].value, 0, NULL);
        ids[i] = strdup(json_string_value(json_object_get(ev, "id")));
        json_decref(ev);
    }
    qsort(ids, n, sizeof *ids, cmp_str);
    return ids;
}

static void replay(struct kworld *kw)
{
    kw->opts.start = PW_START_BEGINNING;
    kworld_start(kw);
    kworld_wait(kw); /* a replay stops at the end of the topic by itself */
    cr_assert_eq(kw->rc, PW_OK, "%s", kw->err.msg);
}

Test(kafka, a_replay_into_an_empty_store_rebuilds_the_same_posts_and_event_ids, .timeout = 90)
{
    struct kworld kw;
    kworld_open(&kw, 100);
    kworld_send(&kw, "post-commands", "p1",
                "{\"specversion\":\"1.0\",\"id\":\"r1\",\"source\":\"/t\",\"type\":\"CreatePost\","
                "\"data\":{\"post_id\":\"p1\",\"author_name\":\"A\",\"title\":\"T\",\"body\":\"b\"}}",
                NULL); /* no time: the Kafka timestamp, the same on every replay */
    kworld_send(&kw, "post-commands", "p1",
                CMD("UpdatePost", "r2", "{\"post_id\":\"p1\",\"title\":\"T2\",\"expected_version\":1}"),
                NULL);
    kworld_send(&kw, "post-commands", "p2",
                CMD("CreatePost", "r3",
                    "{\"post_id\":\"p2\",\"author_name\":\"A\",\"title\":\"T\",\"body\":\"b\"}"), NULL);
    kworld_send(&kw, "post-commands", "p2", CMD("DeletePost", "r4", "{\"post_id\":\"p2\"}"), NULL);
    kworld_send(&kw, "post-commands", "p9", CMD("DeletePost", "r5", "{\"post_id\":\"p9\"}"), NULL);
    kworld_start(&kw);
    struct kmsg *first;
    size_t n1 = kworld_read(&kw, "post-events", 4, 20000, &first);
    cr_assert_eq(n1, 4);
    struct kmsg *dl;
    cr_assert_eq(kworld_read(&kw, "post-commands.dlq", 1, 20000, &dl), 1);
    kmsgs_free(dl, 1);
    kworld_stop(&kw);

    /* Replayed into the same store: all duplicates, nothing new anywhere. */
    replay(&kw);
    cr_assert_eq(kw.stats.duplicates, 5);
    cr_assert_eq(kw.stats.applied, 0);
    cr_assert_eq(kw.stats.dead_letters, 0, "a rejected command is not dead-lettered again");

    /* Replayed into an empty store: the same posts, the same event ids. */
    pw_outbox_close(&kw.outbox);
    pw_store_close(&kw.st);
    pw_uow_close(&kw.uow);
    pw_inmem_store_free(kw.store);
    kw.store = pw_inmem_store_new();
    cr_assert_eq(pw_inmem_uow_open(&kw.uow, kw.store), PW_OK);
    cr_assert_eq(pw_inmem_store_open(&kw.st, kw.store), PW_OK);
    cr_assert_eq(pw_inmem_outbox_open(&kw.outbox, kw.store), PW_OK);
    replay(&kw);
    cr_assert_eq(kw.stats.applied, 4);
    struct kmsg *all;
    size_t n = kworld_read(&kw, "post-events", 8, 20000, &all);
    cr_assert_eq(n, 8);
    char **ids1 = event_ids(first, n1), **ids = event_ids(all, n);
    for (size_t i = 0; i < n1; i++) {
        cr_assert_str_eq(ids[2 * i], ids1[i], "event %s published again with the same id", ids1[i]);
        cr_assert_str_eq(ids[2 * i + 1], ids1[i]);
    }
    /* Both copies of each event carry the same post, times and versions included. */
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_loads(all[i].value, 0, NULL);
        const char *id = json_string_value(json_object_get(a, "id"));
        size_t copies = 0;
        for (size_t j = 0; j < n; j++) {
            json_t *b = json_loads(all[j].value, 0, NULL);
            if (strcmp(json_string_value(json_object_get(b, "id")), id) == 0) {
                copies++;
                cr_assert(json_equal(json_object_get(a, "data"), json_object_get(b, "data")) &&
                              json_equal(json_object_get(a, "time"), json_object_get(b, "time")),
                          "both copies of event %s carry the same post and time", id);
            }
            json_decref(b);
        }
        cr_assert_eq(copies, 2, "event %s: the original and its replay", id);
        json_decref(a);
    }
    for (size_t i = 0; i < n1; i++)
        free(ids1[i]);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids1);
    free(ids);
    kmsgs_free(first, n1);
    kmsgs_free(all, n);
    kworld_close(&kw);
}

static void test_log(const char *level, const char *msg)
{
    if (getenv("PW_TEST_LOG"))
        fprintf(stderr, "%s: %s\n", level, msg);
}

Test(kafka, workers_share_the_partitions_and_one_leaving_mid_stream_doubles_nothing,
     .timeout = 120)
{
    /* Batches of one keep the stream going long enough to stop a worker in the middle. */
    enum { N = 2000 };
    struct kworld a, b;
    kworld_open(&a, 1);
    kworld_open_peer(&b, &a, 1);
    /*
     * librdkafka 2.0.2's mock coordinator holds a join until every member
     * rejoins, for up to the rebalance timeout (max.poll.interval.ms, 300 s by
     * default): frequent heartbeats and a short timeout keep the test short.
     */
    static const char *const props[] = {"heartbeat.interval.ms=100", "session.timeout.ms=6000",
                                        "max.poll.interval.ms=10000"};
    a.ks.props = b.ks.props = props;
    a.ks.nprops = b.ks.nprops = 3;
    a.ks.log = b.ks.log = test_log;
    kworld_preload(&a, "post", 0, N);

    /*
     * Both join together, so the group's first assignment splits the
     * partitions; b's counters say when it has its share, for on a busy
     * machine a could read 300 events before b's join completes.
     */
    static struct pw_metrics bm;
    pw_metrics_init(&bm, "", "post-commands");
    b.opts.metrics = &bm;
    kworld_start(&a);
    kworld_start(&b);
    for (int i = 0; i < 600 && !atomic_load(&bm.joined); i++)
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    cr_assert(atomic_load(&bm.joined), "the second worker never had partitions");
    struct kmsg *evs;
    size_t n = kworld_read(&a, "post-events", 300, 30000, &evs);
    kmsgs_free(evs, n);
    kworld_stop(&b); /* leaves mid-stream: its partitions move to the other worker */
    pw_outbox_close(&b.outbox); /* and exits, giving up the relay if it had it */
    b.outbox.ops = NULL;
    n = kworld_read(&a, "post-events", N, 60000, &evs);
    kworld_stop(&a);
    cr_assert_eq(a.rc, PW_OK, "%s", a.err.msg);
    cr_assert_eq(b.rc, PW_OK, "%s", b.err.msg);
    cr_assert_eq(n, N);
    struct kmsg *more;
    size_t extra = kworld_read(&a, "post-events", N + 1, 1500, &more);
    kmsgs_free(more, extra);
    cr_assert_eq(extra, N, "no event twice");
    char *seen = calloc(N, 1);
    for (size_t i = 0; i < n; i++) {
        int k = atoi(evs[i].key + strlen("post-"));
        cr_assert(!seen[k], "post-%d published twice", k);
        seen[k] = 1;
    }
    free(seen);
    cr_assert_eq(a.stats.applied + b.stats.applied, N, "each command applied once");
    cr_assert_gt(a.stats.consumed, 0, "both workers took a share");
    cr_assert_gt(b.stats.consumed, 0, "both workers took a share");
    cr_assert_lt(b.stats.consumed, N, "and the one that left did not finish");
    kmsgs_free(evs, n);
    kworld_close(&b);
    kworld_close(&a);
}

static void send_create(struct kworld *kw, const char *key, int i)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"specversion\":\"1.0\",\"id\":\"o-%d\",\"source\":\"/t\",\"type\":\"CreatePost\","
             "\"data\":{\"post_id\":\"post-%d\",\"author_name\":\"A\",\"title\":\"T\",\"body\":\"b\"}}",
             i, i);
    kworld_send(kw, "post-commands", key, json, NULL);
}

Test(kafka, replay_from_an_offset_or_a_time_applies_only_what_follows, .timeout = 90)
{
    struct kworld kw;
    kworld_open(&kw, 100);
    /* One key, so one partition: offsets 0 to 4 in order. */
    for (int i = 0; i < 5; i++)
        send_create(&kw, "same-key", i);
    kw.opts.start = PW_START_OFFSET;
    kw.opts.start_offset = 3;
    kworld_start(&kw);
    kworld_wait(&kw);
    cr_assert_eq(kw.rc, PW_OK, "%s", kw.err.msg);
    cr_assert_eq(kw.stats.consumed, 2, "offsets 3 and 4");
    cr_assert_eq(kw.stats.applied, 2);

    /* Commands after a moment T, by their Kafka timestamps. */
    struct timespec ts;
    nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
    clock_gettime(CLOCK_REALTIME, &ts);
    nanosleep(&(struct timespec){0, 50 * 1000000L}, NULL);
    for (int i = 5; i < 8; i++)
        send_create(&kw, "same-key", i);
    kw.opts.start = PW_START_TIME;
    kw.opts.start_time_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    kworld_start(&kw);
    kworld_wait(&kw);
    cr_assert_eq(kw.rc, PW_OK, "%s", kw.err.msg);
    cr_assert_eq(kw.stats.consumed, 3, "the three sent after T, not %llu", (unsigned long long)kw.stats.consumed);
    cr_assert_eq(kw.stats.applied, 3);
    kworld_close(&kw);
}

Test(kafka, commands_with_tens_of_thousands_of_headers_are_applied_and_dead_lettered_whole,
     .timeout = 90)
{
    enum { H = 30000 };
    char **hs = calloc(H + 1, sizeof *hs);
    for (int i = 0; i < H; i++) {
        hs[i] = malloc(16);
        snprintf(hs[i], 16, "x-%d=v", i);
    }
    struct kworld kw;
    kworld_open(&kw, 100);
    kworld_start(&kw);
    /* Two good commands and a rejected one, each with H headers: more than a batch takes. */
    kworld_send(&kw, "post-commands", "h1",
                CMD("CreatePost", "h1", "{\"post_id\":\"h1\",\"author_name\":\"A\","
                                        "\"title\":\"T\",\"body\":\"b\"}"),
                (const char *const *)hs);
    kworld_send(&kw, "post-commands", "h2",
                CMD("CreatePost", "h2", "{\"post_id\":\"h2\",\"author_name\":\"A\","
                                        "\"title\":\"T\",\"body\":\"b\"}"),
                (const char *const *)hs);
    kworld_send(&kw, "post-commands", "h3",
                CMD("DeletePost", "h3", "{\"post_id\":\"nope\"}"), (const char *const *)hs);
    struct kmsg *evs, *dl;
    size_t n = kworld_read(&kw, "post-events", 2, 30000, &evs);
    size_t nd = kworld_read(&kw, "post-commands.dlq", 1, 30000, &dl);
    kworld_stop(&kw);
    cr_assert_eq(kw.rc, PW_OK, "%s", kw.err.msg);
    cr_assert_eq(n, 2);
    cr_assert_eq(nd, 1);
    cr_assert_str_eq(kmsg_header(&dl[0], "x-0"), "v", "the original headers travel on");
    cr_assert_str_eq(kmsg_header(&dl[0], "dlq.error.code"), "not_found");
    kmsgs_free(evs, n);
    kmsgs_free(dl, nd);
    kworld_close(&kw);
    for (int i = 0; i < H; i++)
        free(hs[i]);
    free(hs);
}

static unsigned still_waiting, held_back;
static void count_waiting(const char *level, const char *msg)
{
    (void)level;
    still_waiting += strstr(msg, "still waiting after") != NULL;
    held_back += strstr(msg, "more like it held back") != NULL;
}

Test(kafka, a_topic_that_refuses_us_is_waited_for_and_said_so_again, .timeout = 90)
{
    struct kworld kw;
    kworld_open(&kw, 10);
    kw.ks.log = count_waiting;
    kw.opts.wait_repeat_ms = 300; /* a minute in production */
    kworld_send(&kw, "post-commands", "bad", "{nope", NULL);
    /* The broker refuses the next produce requests as a topic we may not write. */
    pw_kafka_embedded_fail_requests(kw.kafka, 0 /* Produce */, 7,
                                    29 /* TOPIC_AUTHORIZATION_FAILED */);
    kworld_start(&kw);
    struct kmsg *dl;
    size_t n = kworld_read(&kw, "post-commands.dlq", 1, 60000, &dl);
    kworld_stop(&kw);
    cr_assert_eq(kw.rc, PW_OK, "neither fatal: %s", kw.err.msg);
    cr_assert_eq(n, 1, "nor given up: the dead letter went once the broker took it");
    cr_assert_geq(still_waiting, 1, "and the wait was said again, not once only");
    kmsgs_free(dl, n);
    kworld_close(&kw);
}

Test(kafka, librdkafkas_repeated_lines_are_held_back_and_counted)
{
    unsigned held;
    long long t = 1000000;
    cr_assert(kafka_log_admit("consumer", "FAIL", "Connect to 127.0.0.1:1 failed (after 1ms)", t,
                              &held));
    for (int i = 0; i < 50; i++)
        cr_assert_not(kafka_log_admit("consumer", "FAIL",
                                      "Connect to 127.0.0.1:1 failed (after 2ms)", t + i * 100,
                                      &held),
                      "repeat %d within the window is held back", i);
    cr_assert(kafka_log_admit("producer", "FAIL", "Connect to 127.0.0.1:1 failed (after 1ms)",
                              t + 100, &held),
              "another handle's line is its own kind");
    cr_assert(kafka_log_admit("consumer", "FAIL", "Connect to 127.0.0.1:1 failed (after 9ms)",
                              t + 10000, &held), "shown again after the window");
    cr_assert_eq(held, 50, "with the count of those held back");
}

Test(kafka, a_stop_while_the_broker_keeps_timing_out_does_not_wait_the_timeout_out, .timeout = 90)
{
    struct kworld kw;
    kworld_open(&kw, 10);
    kworld_preload(&kw, "s", 0, 5);
    /* Produce requests time out over and over: librdkafka would retry for 30 s. */
    pw_kafka_embedded_fail_requests(kw.kafka, 0 /* Produce */, 2000, 7 /* REQUEST_TIMED_OUT */);
    kworld_start(&kw);
    sleep(5); /* group join, the batch, and its publish stuck in a flush */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kworld_stop(&kw);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    cr_assert_eq(kw.rc, PW_OK, "a stop during an outage is a clean stop: %s", kw.err.msg);
    cr_assert_lt(ms, 8000, "it took %ld ms; message.timeout.ms is 30,000", ms);
    kworld_close(&kw);
}

static atomic_int kept_lines;

static void count_line(const char *level, const char *msg)
{
    (void)level;
    (void)msg;
    atomic_fetch_add(&kept_lines, 1);
}

/*
 * A consumer a stop kept, not destroyed (source_kafka.c, librdkafka 2.0's
 * issue 4312), outlives its source and the settings its opaque points to;
 * its threads go on logging (here, all of librdkafka's debug lines) and
 * must reach none of it.
 */
Test(kafka, a_kept_handle_logs_nothing_through_what_it_pointed_to, .timeout = 60)
{
    struct kworld kw;
    kworld_open(&kw, 10);
    struct pw_kafka_settings *s = malloc(sizeof *s);
    *s = kw.ks;
    s->log = count_line;
    s->nprops = 0;
    struct kafka_logctx *ctx = malloc(sizeof *ctx);
    *ctx = (struct kafka_logctx){.s = s, .handle = "consumer"};
    static const char *const defaults[] = {"group.id", "kept", "debug", "all", NULL};
    struct pw_errbuf err;
    rd_kafka_conf_t *conf = kafka_conf_new(s, RD_KAFKA_CONSUMER, defaults, ctx, &err);
    cr_assert_not_null(conf, "%s", err.msg);
    char errstr[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    cr_assert_not_null(rk, "%s", errstr);
    while (atomic_load(&kept_lines) == 0)
        nanosleep(&(struct timespec){0, 10000000L}, NULL);
    cr_assert(kafka_keep(rk));
    int before = atomic_load(&kept_lines);
    free(ctx);
    free(s);
    kworld_close(&kw); /* the cluster goes: the kept consumer's threads say so */
    sleep(2);
    cr_assert_eq(atomic_load(&kept_lines), before, "no line of the kept consumer came through");
}
