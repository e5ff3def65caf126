/*
 * PostgreSQL under the dispatcher, the relay and the Kafka worker: leftovers
 * after a crash, rollback on any failure, the worker end to end, and the
 * database going away mid-stream.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapters/fault/fault.h"
#include "adapters/kafka/client_kafka.h"
#include "tests/kafka_world.h"

static void run_batch(struct pw_app *app, struct pw_cmd *cmds, size_t n)
{
    struct pw_outcome outs[16];
    struct pw_errbuf err;
    struct pw_input *in = inputs_of(cmds, n);
    cr_assert_eq(pw_dispatch_batch(app, in, n, NULL, 0, false, outs, NULL, &err), PW_OK, "%s", err.msg);
    free(in);
}

Test(pg_relay, a_restarted_relay_publishes_what_a_crash_left_in_commit_order)
{
    struct pg_schema schema;
    pg_schema_open(&schema);
    struct pw_uow uow;
    struct pw_ids ids;
    cr_assert_eq(pw_pg_uow_open(&uow, schema.store), PW_OK);
    pw_uuid_ids_open(&ids);
    struct pw_app d;
    app_on_uow(&d, &uow, NULL, &ids);
    struct pw_cmd first[] = {cmd_create("c1", "p1", T0), cmd_create("c2", "p2", T0),
                             cmd_update("c3", "p1", "two", 1, T0 + 1)};
    struct pw_cmd second[] = {cmd_update("c4", "p2", "two", 1, T0 + 2),
                              cmd_update("c5", "p1", "three", 2, T0 + 3)};
    run_batch(&d, first, 3);
    run_batch(&d, second, 2);
    /* The crash: the events were committed, and nothing published them. */
    pw_app_close(&d);
    pw_uow_close(&uow);
    cr_assert_eq(pg_schema_scalar(&schema, "SELECT count(*) FROM outbox"), 5);

    /* A new process: a new store, outbox reader and relay on the same database. */
    struct pw_pg_store *again;
    struct pw_errbuf err;
    cr_assert_eq(pw_pg_store_new(&again, getenv("DATABASE_URL"), schema.name, &err), PW_OK);
    struct pw_outbox outbox;
    struct pw_bus bus;
    struct pw_relay relay;
    cr_assert_eq(pw_pg_outbox_open(&outbox, again), PW_OK);
    cr_assert_eq(pw_inmem_bus_open(&bus), PW_OK);
    cr_assert_eq(pw_relay_init(&relay, &outbox, &bus, 2, 1000), PW_OK);
    size_t published = 0, n;
    cr_assert_eq(pw_relay_drain(&relay, &published, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(published, 5);
    const struct pw_event *evs = pw_inmem_bus_events(&bus, &n);
    static const char *order[] = {"c1", "c2", "c3", "c4", "c5"};
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(evs[i].causation_id, order[i], "event %zu in commit order", i);
    cr_assert_str_eq(evs[4].post.title, "three");
    cr_assert_eq(evs[4].post.version, 3);
    cr_assert_eq(evs[4].time, T0 + 3, "times survive the database exactly");
    cr_assert_eq(pg_schema_scalar(&schema, "SELECT count(*) FROM outbox"), 0,
                 "acknowledged rows are removed");
    pw_relay_release(&relay);
    pw_bus_close(&bus);
    pw_outbox_close(&outbox);
    pw_pg_store_free(again);
    pg_schema_close(&schema);
}

/* Counts the worker's warnings: each outage it notices logs one. */
static int warnings;

static void count_warnings(const char *level, const char *msg)
{
    (void)msg;
    if (strcmp(level, "warn") == 0)
        warnings++;
}

/* Every post once, with one distinct event id each; duplicates of a message are allowed. */
static void assert_each_once(struct kworld *kw, int n)
{
    struct kmsg *evs;
    size_t got = kworld_read(kw, "post-events", (size_t)n * 2, 3000, &evs);
    cr_assert_geq(got, (size_t)n);
    char (*ids)[40] = calloc((size_t)n, sizeof *ids);
    for (size_t i = 0; i < got; i++) {
        json_t *ev = json_loads(evs[i].value, 0, NULL);
        const char *key = strrchr(evs[i].key, '-');
        int k = atoi(key + 1);
        const char *id = json_string_value(json_object_get(ev, "id"));
        if (ids[k][0])
            cr_assert_str_eq(ids[k], id, "post %d got two different events", k);
        snprintf(ids[k], sizeof ids[k], "%s", id);
        json_decref(ev);
    }
    for (int k = 0; k < n; k++)
        cr_assert_neq(ids[k][0], '\0', "post %d has no event", k);
    free(ids);
    kmsgs_free(evs, got);
}

Test(pg_worker, commands_flow_through_postgresql_and_kafka_end_to_end, .timeout = 90)
{
    enum { N = 500 };
    struct kworld kw;
    kworld_open_pg(&kw, 100);
    kworld_preload(&kw, "e2e", 0, N);
    kworld_send(&kw, "post-commands", "e2e-0",
                "{\"specversion\":\"1.0\",\"id\":\"e2e-0\",\"source\":\"/t\",\"type\":\"CreatePost\","
                "\"data\":{\"post_id\":\"e2e-0\",\"author_name\":\"A\",\"title\":\"T\",\"body\":\"b\"}}",
                NULL); /* a redelivery */
    kworld_send(&kw, "post-commands", "nope",
                "{\"specversion\":\"1.0\",\"id\":\"r-1\",\"source\":\"/t\",\"type\":\"DeletePost\","
                "\"data\":{\"post_id\":\"nope\"}}", NULL);
    kworld_start(&kw);
    struct kmsg *dl;
    size_t nd = kworld_read(&kw, "post-commands.dlq", 1, 30000, &dl);
    struct kmsg *evs;
    size_t n = kworld_read(&kw, "post-events", N, 30000, &evs);
    kmsgs_free(evs, n);
    kworld_stop(&kw);
    cr_assert_eq(kw.rc, PW_OK, "%s", kw.err.msg);
    cr_assert_eq(nd, 1);
    cr_assert_str_eq(kmsg_header(&dl[0], "dlq.error.code"), "not_found");
    kmsgs_free(dl, nd);
    assert_each_once(&kw, N);
    cr_assert_eq(pg_schema_scalar(kw.pg, "SELECT count(*) FROM posts"), N);
    cr_assert_eq(pg_schema_scalar(kw.pg, "SELECT count(*) FROM inbox"), N + 1);
    cr_assert_eq(pg_schema_scalar(kw.pg, "SELECT count(*) FROM outbox"), 0);
    cr_assert_eq(pg_schema_scalar(kw.pg, "SELECT sum(next_offset) FROM consumer_offsets"), N + 2,
                 "every partition's position is stored with the data");
    cr_assert_eq(kw.stats.duplicates, 1);
    kworld_close(&kw);
}

/*
 * W3C trace context: a command's traceparent (header or attribute) continues
 * in its event, through the PostgreSQL outbox, as a header and an attribute:
 * the same trace id and flags, a span of its own. No context, no headers.
 */
Test(pg_worker, the_trace_context_continues_from_command_to_event, .timeout = 90)
{
    static const char *const trace[] = {
        "traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "tracestate=vendor=abc", NULL};
    struct kworld kw;
    kworld_open_pg(&kw, 100);
    kworld_send(&kw, "post-commands", "traced",
                "{\"specversion\":\"1.0\",\"id\":\"t-1\",\"source\":\"/t\",\"type\":\"CreatePost\","
                "\"data\":{\"post_id\":\"traced\",\"author_name\":\"A\",\"title\":\"T\",\"body\":\"b\"}}",
                trace);
    kworld_send(&kw, "post-commands", "plain",
                "{\"specversion\":\"1.0\",\"id\":\"t-2\",\"source\":\"/t\",\"type\":\"CreatePost\","
                "\"data\":{\"post_id\":\"plain\",\"author_name\":\"A\",\"title\":\"T\",\"body\":\"b\"}}",
                NULL);
    kworld_start(&kw);
    struct kmsg *evs;
    size_t n = kworld_read(&kw, "post-events", 2, 30000, &evs);
    kworld_stop(&kw);
    cr_assert_eq(kw.rc, PW_OK, "%s", kw.err.msg);
    cr_assert_eq(n, 2);
    for (size_t i = 0; i < n; i++) {
        const char *tp = kmsg_header(&evs[i], "traceparent");
        json_t *ev = json_loads(evs[i].value, 0, NULL);
        const char *attr = json_string_value(json_object_get(ev, "traceparent"));
        if (strcmp(evs[i].key, "plain") == 0) {
            cr_assert_null(tp, "no context in, none out");
            cr_assert_null(attr);
        } else {
            cr_assert(tp, "the event carries the trace as a header");
            cr_assert_eq(strncmp(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36), 0, "%s", tp);
            cr_assert_str_neq(tp + 36, "00f067aa0ba902b7-01", "a span of its own");
            cr_assert_str_eq(tp + 52, "-01", "the flags kept");
            cr_assert_str_eq(attr, tp, "and as the attribute");
            cr_assert_str_eq(kmsg_header(&evs[i], "tracestate"), "vendor=abc");
            cr_assert_str_eq(json_string_value(json_object_get(ev, "tracestate")), "vendor=abc");
        }
        json_decref(ev);
    }
    kmsgs_free(evs, n);
    kworld_close(&kw);
}

/*
 * Stops the server under the worker. It must be run alone (make test does,
 * with PW_PG_OUTAGE=1), since every other test shares the server.
 */
Test(pg_outage, the_database_stopped_and_started_mid_stream_loses_and_doubles_nothing,
     .timeout = 180)
{
    const char *ctl = getenv("PW_PG_CTL");
    if (!getenv("PW_PG_OUTAGE") || !ctl)
        cr_skip_test("runs alone: PW_PG_OUTAGE=1 with tools/with-postgres (make test does)");
    enum { N = 3000 };
    struct kworld kw;
    kworld_open_pg(&kw, 50);
    kw.ks.log = count_warnings;
    kworld_preload(&kw, "out", 0, N / 2);
    kworld_start(&kw);
    struct kmsg *evs;
    size_t n = kworld_read(&kw, "post-events", 200, 60000, &evs);
    kmsgs_free(evs, n);
    cr_assert_eq(n, 200);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s stop -m fast >/dev/null", ctl);
    cr_assert_eq(system(cmd), 0, "stopping the server");
    /* The other half arrives while the database is down: the worker must wait for it. */
    kworld_preload(&kw, "out", N / 2, N / 2);
    sleep(2);
    cr_assert_gt(warnings, 0, "the worker noticed the outage");
    snprintf(cmd, sizeof cmd, "%s start >/dev/null", ctl);
    cr_assert_eq(system(cmd), 0, "starting the server");
    n = kworld_read(&kw, "post-events", N, 120000, &evs);
    kmsgs_free(evs, n);
    kworld_stop(&kw);
    cr_assert_eq(kw.rc, PW_OK, "%s", kw.err.msg);
    assert_each_once(&kw, N);
    cr_assert_eq(pg_schema_scalar(kw.pg, "SELECT count(*) FROM posts"), N);
    cr_assert_eq(pg_schema_scalar(kw.pg, "SELECT count(*) FROM posts WHERE version <> 1"), 0,
                 "nothing applied twice");
    cr_assert_eq(pg_schema_scalar(kw.pg, "SELECT count(*) FROM inbox"), N);
    cr_assert_eq(pg_schema_scalar(kw.pg, "SELECT count(*) FROM outbox"), 0);
    kworld_close(&kw);
}

/* Runs sql (several statements) in kw's schema, or fails the test. */
static void pg_run(struct kworld *kw, const char *sql)
{
    PGconn *c = PQconnectdb(getenv("DATABASE_URL"));
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    char path[128];
    snprintf(path, sizeof path, "SET search_path = %s", kw->pg->name);
    PQclear(PQexec(c, path));
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

#define PG_TABLES "posts, inbox, outbox, consumer_offsets, run_attempts, parked_posts, held_commands"

/*
 * A database restored from a backup catches up by itself: the offsets
 * stored with the data are where the worker resumes, whatever the group
 * committed on the broker since. (Before, a partition started at the later
 * of the two, and the commands after the backup stayed missing.)
 */
Test(pg_worker, a_database_restored_from_a_backup_applies_again_what_came_after_it,
     .timeout = 120)
{
    enum { N = 1500 };
    struct kworld kw;
    kworld_open_pg(&kw, 100);
    kworld_preload(&kw, "rst", 0, N);
    kworld_start(&kw);
    struct kmsg *evs;
    size_t n = kworld_read(&kw, "post-events", N, 60000, &evs);
    kmsgs_free(evs, n);
    cr_assert_eq(n, N);
    kworld_stop(&kw);
    /* The backup: a copy of every table, as pg_dump would take it. */
    static const char *const tables[] = {"posts",        "inbox",        "outbox",
                                         "consumer_offsets", "run_attempts", "parked_posts",
                                         "held_commands"};
    char sql[4096] = "";
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        snprintf(sql + strlen(sql), sizeof sql - strlen(sql),
                 "CREATE TABLE backup_%s AS SELECT * FROM %s;", tables[i], tables[i]);
    pg_run(&kw, sql);
    kworld_preload(&kw, "rst", N, N);
    kworld_start(&kw);
    n = kworld_read(&kw, "post-events", 2 * N, 60000, &evs);
    kmsgs_free(evs, n);
    kworld_stop(&kw);
    cr_assert_eq(pg_schema_scalar(kw.pg, "SELECT count(*) FROM posts"), 2 * N);
    /* The restore: the tables as the backup had them; the group's offsets stay at the end. */
    snprintf(sql, sizeof sql, "TRUNCATE " PG_TABLES ";");
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
        snprintf(sql + strlen(sql), sizeof sql - strlen(sql),
                 "INSERT INTO %s SELECT * FROM backup_%s;", tables[i], tables[i]);
    pg_run(&kw, sql);
    cr_assert_eq(pg_schema_scalar(kw.pg, "SELECT count(*) FROM posts"), N);
    kworld_start(&kw);
    for (int i = 0; i < 600 && pg_schema_scalar(kw.pg, "SELECT count(*) FROM posts") < 2 * N; i++)
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    kworld_stop(&kw);
    cr_assert_eq(kw.rc, PW_OK, "%s", kw.err.msg);
    cr_assert_eq(pg_schema_scalar(kw.pg, "SELECT count(*) FROM posts"), 2 * N,
                 "the commands after the backup applied again");
    cr_assert_eq(pg_schema_scalar(kw.pg, "SELECT count(*) FROM posts WHERE version <> 1"), 0);
    cr_assert_eq(pg_schema_scalar(kw.pg, "SELECT count(*) FROM inbox"), 2 * N);
    kworld_close(&kw);
}
