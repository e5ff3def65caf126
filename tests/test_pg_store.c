/* The store contract against PostgreSQL, plus what only a database has. */
#include "tests/store_contract.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapters/pg/migrations.h"
#include "adapters/pg/pg.h"
#include "adapters/pg/query_pg.h"
#include "adapters/pg/uow_pg.h"
#include "tests/helpers.h"
#include "tests/pg_world.h"
#include "tests/proc.h"

#define STORE_SUITE_NAME store_pg
#define STORE_ADAPTER store_pg_adapter
STORE_CONTRACT_SUITE()

#undef STORE_SUITE_NAME
#undef STORE_ADAPTER

Test(pg, migrations_applied_twice_are_a_no_op)
{
    struct pg_schema schema;
    pg_schema_open(&schema);
    int applied = 7;
    struct pw_errbuf err;
    cr_assert_eq(pw_pg_migrate(schema.store, &applied, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(applied, 0);
    cr_assert_eq(pg_schema_scalar(&schema, "SELECT count(*) FROM schema_migrations"),
                 (long long)pg_nmigrations, "every migration recorded once");
    pg_schema_close(&schema);
}

Test(pg, a_bad_database_url_is_usage_and_never_shows_the_password)
{
    struct pw_pg_store *store = NULL;
    struct pw_errbuf err;
    cr_assert_eq(pw_pg_store_new(&store, "postgresql://u:s3cret@host:notaport/db?x", NULL, &err),
                 PW_E_USAGE);
    cr_assert_null(strstr(err.msg, "s3cret"), "%s", err.msg);
    cr_assert_eq(pw_pg_store_new(&store, "host=h password=s3cret bogus", NULL, &err), PW_E_USAGE);
    cr_assert_null(strstr(err.msg, "s3cret"), "%s", err.msg);
    /* The audit's: an '@' in the password, unescaped, made libpq print its tail as a host. */
    cr_assert_eq(pw_pg_store_new(&store, "postgresql://user:s3cr3t@ss@localhost:1/db", NULL, &err),
                 PW_E_USAGE);
    cr_assert_null(strstr(err.msg, "s3cr3t"), "%s", err.msg);
    cr_assert_null(strstr(err.msg, "ss@"), "%s", err.msg);
    cr_assert(strstr(err.msg, "%40"), "says what to do: %s", err.msg);
}

Test(pg, a_connection_error_never_shows_the_password)
{
    /* Port 1 on loopback: refused, and libpq's message names what it tried. */
    struct pw_pg_store *store = NULL;
    struct pw_errbuf err;
    cr_assert_eq(pw_pg_store_new(&store, "postgresql://u:pw-s3cr3t@127.0.0.1:1/db", NULL, &err),
                 PW_OK, "%s", err.msg);
    cr_assert_eq(pw_pg_migrate(store, NULL, &err), PW_E_TRANSIENT, "%s", err.msg);
    cr_assert_null(strstr(err.msg, "pw-s3cr3t"), "%s", err.msg);
    pw_pg_store_free(store);
}

Test(pg, a_database_that_is_down_is_a_transient_error)
{
    struct pw_pg_store *store = NULL;
    struct pw_errbuf err;
    cr_assert_eq(pw_pg_store_new(&store, "postgresql:///x?host=/nonexistent&connect_timeout=1",
                                 NULL, &err), PW_OK);
    struct pw_uow uow;
    cr_assert_eq(pw_pg_uow_open(&uow, store), PW_OK);
    cr_assert_eq(pw_uow_begin(&uow, &err), PW_E_TRANSIENT);
    cr_assert_eq(pw_pg_migrate(store, NULL, &err), PW_E_TRANSIENT);
    pw_uow_close(&uow);
    pw_pg_store_free(store);
}

/* Runs sql in schema on a connection of its own, or fails the test. */
static void pg_exec_in(const char *schema, const char *sql)
{
    PGconn *c = PQconnectdb(getenv("DATABASE_URL"));
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    char path[128];
    snprintf(path, sizeof path, "SET search_path = %s", schema);
    PQclear(PQexec(c, path));
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

Test(pg, migration_0002_keeps_a_populated_databases_offsets_and_events)
{
    const char *url = getenv("DATABASE_URL");
    if (!url || !*url)
        cr_skip_test("DATABASE_URL is not set: run under tools/with-postgres (make test does)");
    /* A database as version 1 left it, with an offset and an unpublished event. */
    char schema[64], sql[256];
    snprintf(schema, sizeof schema, "m_%d", (int)getpid());
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", schema,
             schema);
    pg_exec_in("public", sql);
    pg_exec_in(schema, pg_migrations[0].sql);
    pg_exec_in(schema, "CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
                       " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());"
                       " INSERT INTO schema_migrations (version, name) VALUES (1, '0001_init')");
    pg_exec_in(schema, "INSERT INTO consumer_offsets VALUES ('post-commands', 3, 42);"
                       " INSERT INTO outbox (event_id, event_type, event_index, time, source,"
                       " causation_id, correlation_id, post_id, author_name, title, body,"
                       " version, created_at, updated_at) VALUES"
                       " ('00000000-0000-5000-8000-000000000001', 'PostCreated', 0,"
                       " '2026-11-20T10:00:00Z', '/s', 'c1', 'c1', 'p1', 'Ada', 'Hi', 'Body', 1,"
                       " '2026-11-20T10:00:00Z', '2026-11-20T10:00:00Z')");

    struct pw_pg_store *store;
    struct pw_errbuf err;
    int applied = 0;
    cr_assert_eq(pw_pg_store_new(&store, url, schema, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pw_pg_migrate(store, &applied, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(applied, (int)pg_nmigrations - 1, "every migration after the first");

    struct pw_uow uow;
    struct pw_store st;
    struct pw_outbox outbox;
    cr_assert_eq(pw_pg_uow_open(&uow, store), PW_OK);
    cr_assert_eq(pw_pg_store_open(&st, store), PW_OK);
    cr_assert_eq(pw_pg_outbox_open(&outbox, store), PW_OK);
    int64_t off = 0;
    cr_assert_eq(pw_store_offset_get(&st, "postworker", "post-commands", 3, &off, &err), PW_OK,
                 "%s", err.msg);
    cr_assert_eq(off, 42, "a group with no offsets of its own starts from the old ones");
    cr_assert_eq(pw_uow_begin(&uow, &err), PW_OK);
    cr_assert_eq(pw_uow_offset_put(&uow, "postworker", "post-commands", 3, 50, &err), PW_OK);
    cr_assert_eq(pw_uow_commit(&uow, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pw_store_offset_get(&st, "postworker", "post-commands", 3, &off, &err), PW_OK);
    cr_assert_eq(off, 50, "its own offset wins once it has one");

    struct pw_out outs[2];
    uint64_t seqs[2];
    size_t n = 0;
    cr_assert_eq(pw_outbox_peek(&outbox, outs, seqs, 2, &n, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(n, 1, "the unpublished event survives the migration");
    cr_assert_eq(outs[0].kind, PW_OUT_EVENT);
    cr_assert_str_eq(outs[0].topic, "", "no topic: the bus sends it to the events topic");
    cr_assert_str_eq(outs[0].ev.post.title, "Hi");
    pw_out_release(&outs[0]);
    pw_outbox_close(&outbox);
    pw_store_close(&st);
    pw_uow_close(&uow);
    pw_pg_store_free(store);
    snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
    pg_exec_in("public", sql);
}

/*
 * A rule of the database's own refuses one UpdatePost: it is dead-lettered
 * failed (apply_failed, found by halves, its SQLSTATE in the reason) and
 * parks its post; the post's next two commands are held, not applied and
 * not rejected, while other posts flow. The rule dropped and the command
 * sent again, it applies and the held ones run right after it, in order.
 */
Test(pg, a_command_the_database_refuses_parks_its_post_until_it_is_sent_again)
{
    struct pg_schema schema;
    pg_schema_open(&schema);
    /* A body, not a title: a later command of the post in the same batch would not change it. */
    pg_exec_in(schema.name, "ALTER TABLE posts ADD CONSTRAINT no_evil CHECK (body <> 'evil')");
    struct pw_uow uow;
    struct pw_store st;
    struct pw_ids ids;
    cr_assert_eq(pw_pg_uow_open(&uow, schema.store), PW_OK);
    cr_assert_eq(pw_pg_store_open(&st, schema.store), PW_OK);
    pw_uuid_ids_open(&ids);
    struct pw_app app;
    app_on_uow(&app, &uow, &st, &ids);
    struct pw_service svc = pw_app_service(&app);
    struct pw_cmd cmds[] = {cmd_create("c1", "p", T0),      cmd_update("c2", "p", "two", 1, T0),
                            cmd_create("c3", "other", T0),  cmd_update("c4", "p", "three", 2, T0),
                            cmd_delete("c5", "p", 3, T0),   cmd_update("c6", "other", "x", 1, T0)};
    cmds[1].body = "evil";
    struct pw_input *in = inputs_at(cmds, 6, 0, 0);
    decode_table(cmds, 6);
    struct pw_offset off = {.group = "g", .topic = "post-commands", .partition = 0, .next = 6};
    struct pw_outcome outs[6];
    struct pw_errbuf err;
    struct pw_batch b = {.seq = 1, .in = in, .n = 6, .offsets = &off, .noffsets = 1, .outs = outs};
    cr_assert_eq(pw_service_run(&svc, &b, &err), PW_OK, "%s", err.msg);
    static const enum pw_outcome_kind want[] = {PW_OUTCOME_APPLIED, PW_OUTCOME_REJECTED,
                                                PW_OUTCOME_APPLIED, PW_OUTCOME_HELD,
                                                PW_OUTCOME_HELD,    PW_OUTCOME_APPLIED};
    for (int i = 0; i < 6; i++)
        cr_assert_eq(outs[i].kind, want[i], "command %d is %s", i, pw_outcome_kind_name(outs[i].kind));
    cr_assert_eq(outs[1].err.code, PW_E_APPLY_FAILED);
    cr_assert(strstr(outs[1].err.msg, "23514"), "the cause names the SQLSTATE: %s", outs[1].err.msg);
    cr_assert_eq(pg_schema_scalar(&schema, "SELECT version FROM posts WHERE post_id = 'p'"), 1,
                 "the post unchanged");
    cr_assert_eq(pg_schema_scalar(&schema, "SELECT version FROM posts WHERE post_id = 'other'"), 2);
    cr_assert_eq(pg_schema_scalar(&schema, "SELECT count(*) FROM inbox WHERE id = 'c2'"), 0,
                 "not marked processed: it can run once the cause is fixed");
    cr_assert_eq(pg_schema_scalar(&schema, "SELECT count(*) FROM outbox WHERE dl_code IS NOT NULL"),
                 1, "the failed one's dead letter, and no rejection of the held ones");
    cr_assert_eq(pg_schema_scalar(&schema,
                                  "SELECT count(*) FROM outbox WHERE dl_parked = 'p'"), 1);
    cr_assert_eq(pg_schema_scalar(&schema, "SELECT held FROM parked_posts WHERE post_id = 'p'"), 2);
    cr_assert_eq(pg_schema_scalar(&schema, "SELECT next_offset FROM consumer_offsets"), 6,
                 "the held commands' offsets are stored: the partition flows on");
    /* The cause fixed, the same command sent again (a redrive, at a new offset). */
    pg_exec_in(schema.name, "ALTER TABLE posts DROP CONSTRAINT no_evil");
    in[1].origin.offset = 7;
    off.next = 8;
    b = (struct pw_batch){.seq = 2, .in = &in[1], .n = 1, .offsets = &off, .noffsets = 1,
                          .outs = outs};
    cr_assert_eq(pw_service_run(&svc, &b, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(outs[0].kind, PW_OUTCOME_APPLIED);
    cr_assert(b.resolved, "the worker drains next");
    const struct pw_input *din;
    const struct pw_outcome *douts;
    size_t n;
    cr_assert_eq(pw_service_drain(&svc, decode_by_id, &din, &douts, &n, &err), PW_OK, "%s",
                 err.msg);
    cr_assert_eq(n, 2);
    cr_assert_eq(douts[0].kind, PW_OUTCOME_APPLIED);
    cr_assert_eq(douts[0].version, 3, "the held ones right after it, in order");
    cr_assert_eq(douts[1].kind, PW_OUTCOME_APPLIED);
    cr_assert_eq(douts[1].version, 4);
    cr_assert_eq(pw_service_drain(&svc, decode_by_id, &din, &douts, &n, &err), PW_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(pg_schema_scalar(&schema, "SELECT version FROM posts WHERE post_id = 'p'"), 4);
    cr_assert_eq(pg_schema_scalar(&schema, "SELECT count(*) FROM posts WHERE post_id = 'p'"
                                           " AND title = 'three' AND deleted_at IS NOT NULL"), 1);
    cr_assert_eq(pg_schema_scalar(&schema, "SELECT count(*) FROM parked_posts"), 0);
    cr_assert_eq(pg_schema_scalar(&schema, "SELECT count(*) FROM held_commands"), 0);
    free(in);
    pw_app_close(&app);
    pw_store_close(&st);
    pw_uow_close(&uow);
    pg_schema_close(&schema);
}

/*
 * statement_timeout cuts a statement off with SQLSTATE 57014: interrupted,
 * so that the failure path counts it when it keeps happening to one run.
 */
Test(pg, a_statement_cut_off_by_the_server_is_interrupted)
{
    struct pg_schema schema;
    pg_schema_open(&schema);
    pg_exec_in(schema.name,
               "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
               " IF NEW.title = 'slow' THEN"
               " RAISE EXCEPTION 'canceling statement due to statement timeout'"
               " USING ERRCODE = 'query_canceled'; END IF; RETURN NEW; END $$;"
               " CREATE TRIGGER slow BEFORE INSERT ON posts FOR EACH ROW EXECUTE FUNCTION slow()");
    struct pw_uow uow;
    cr_assert_eq(pw_pg_uow_open(&uow, schema.store), PW_OK);
    struct pw_errbuf err;
    struct pw_post post = store_post_make("cut", 1);
    free((char *)post.title);
    post.title = strdup("slow");
    cr_assert_eq(pw_uow_begin(&uow, &err), PW_OK, "%s", err.msg);
    struct pw_repo repo = pw_uow_posts(&uow);
    cr_assert_eq(pw_repo_add(&repo, &post, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pw_uow_commit(&uow, &err), PW_E_INTERRUPTED, "%s", err.msg);
    cr_assert(strstr(err.msg, "57014"), "%s", err.msg);
    pw_post_release(&post);
    pw_uow_close(&uow);
    pg_schema_close(&schema);
}

/* The generic plan (as a prepared statement ends up) of sql with args, on s's tables now. */
static void generic_plan(struct pg_schema *s, const char *sql, int nparams, const char *args,
                         char *plan, size_t size)
{
    PGconn *c = PQconnectdb(getenv("DATABASE_URL"));
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    char set[160];
    snprintf(set, sizeof set, "SET search_path = %s; SET plan_cache_mode = force_generic_plan",
             s->name);
    PQclear(PQexec(c, set));
    PGresult *r = PQprepare(c, "stmt", sql, nparams, NULL);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
    char explain[256];
    snprintf(explain, sizeof explain, "EXPLAIN EXECUTE stmt(%s)", args);
    r = PQexec(c, explain);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    plan[0] = '\0';
    for (int i = 0; i < PQntuples(r); i++) {
        strncat(plan, PQgetvalue(r, i, 0), size - strlen(plan) - 2);
        strcat(plan, "\n");
    }
    PQclear(r);
    PQfinish(c);
}

/*
 * A prepared statement gets a generic plan after five runs, and one made on
 * a new deployment's empty tables must still look keys up by the primary
 * key, not scan the whole table every batch as it grows: the inbox's
 * prefetch, and the update of changed posts (a join with the batch's rows,
 * which planned on an empty table hashed a scan of every post: the paced
 * benchmark's p99 went from 188 ms to 41 ms without it).
 */
Test(pg, the_write_path_looks_keys_up_even_planned_on_empty_tables)
{
    struct pg_schema s;
    pg_schema_open(&s);
    char plan[2048];
    generic_plan(&s, PG_INBOX_PREFETCH, 2, "'{/src}', '{c1}'", plan, sizeof plan);
    cr_expect(strstr(plan, "Index Scan using inbox_pkey") && !strstr(plan, "Seq Scan on inbox"),
              "%s", plan);
    generic_plan(&s, pg_update_posts_sql, 9,
                 "'{p}', '{a}', '{t}', '{b}', '{2}', '{2026-01-01}', '{2026-01-01}', '{NULL}',"
                 " '{1}'",
                 plan, sizeof plan);
    cr_expect(strstr(plan, "posts_pkey") && !strstr(plan, "Seq Scan on posts"), "%s", plan);
    pg_schema_close(&s);
}

/*
 * posts' rows read by sequential scans, once every one of the inserted posts
 * is counted too: a session sends its counts now and then, and all of them
 * when it ends.
 */
static long long posts_seq_read(struct pg_schema *s, long long inserted)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT seq_tup_read FROM pg_stat_user_tables WHERE relid = '%s.posts'::regclass"
             " AND n_tup_ins >= %lld",
             s->name, inserted);
    long long n = -1;
    for (int i = 0; i < 50 && n < 0; i++) {
        if ((n = pg_schema_scalar(s, sql)) < 0)
            nanosleep(&(struct timespec){0, 100 * 1000000L}, NULL);
    }
    return n;
}

/*
 * The unit of work's statements look posts up by key while the table grows
 * from empty, whatever the plan cache made of them early: analyzed at 100
 * posts (as autovacuum does, once a minute at most), a generic plan of the
 * prefetch scanned every post of every batch from then on, 7 million rows
 * in a 15 s paced benchmark, until the next analyze.
 */
Test(pg, the_unit_of_work_never_scans_posts_as_the_table_grows)
{
    struct pg_schema s;
    pg_schema_open(&s);
    struct pw_uow uow;
    cr_assert_eq(pw_pg_uow_open(&uow, s.store), PW_OK);
    struct pw_errbuf err;
    for (int i = 0; i < 1500; i++) {
        if (i == 50) {
            char analyze[96];
            snprintf(analyze, sizeof analyze, "ANALYZE %s.posts", s.name);
            PGconn *c = PQconnectdb(getenv("DATABASE_URL"));
            PQclear(PQexec(c, analyze));
            PQfinish(c);
        }
        char id[2][32];
        struct pw_cmd cmds[2];
        const struct pw_cmd *ptrs[2];
        for (int k = 0; k < 2; k++) {
            snprintf(id[k], sizeof id[k], "g-%d", 2 * i + k);
            cmds[k] = cmd_create(id[k], id[k], T0);
            ptrs[k] = &cmds[k];
        }
        cr_assert_eq(pw_uow_begin(&uow, &err), PW_OK, "%s", err.msg);
        cr_assert_eq(pw_uow_prefetch(&uow, ptrs, 2, &err), PW_OK, "%s", err.msg);
        struct pw_repo repo = pw_uow_posts(&uow);
        for (int k = 0; k < 2; k++) {
            struct pw_post post = store_post_make(id[k], 1);
            cr_assert_eq(pw_repo_add(&repo, &post, &err), PW_OK, "%s", err.msg);
            pw_post_release(&post);
        }
        cr_assert_eq(pw_uow_commit(&uow, &err), PW_OK, "%s", err.msg);
    }
    pw_uow_close(&uow);
    long long read = posts_seq_read(&s, 3000);
    cr_assert_geq(read, 0, "the session's counts never arrived");
    /* Only while the table is small enough that a scan is the cheaper plan: 57,330 here. */
    cr_assert_lt(read, 100000, "%lld posts read by sequential scans for 3,000 posts written", read);
    pg_schema_close(&s);
}

/* The plan of sql (a page statement) with params, generic as a prepared statement ends up. */
static char *page_plan(struct pg_schema *schema, const char *sql, const char *params)
{
    PGconn *c = PQconnectdb(getenv("DATABASE_URL"));
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    char set[160];
    snprintf(set, sizeof set, "SET search_path = %s; SET plan_cache_mode = force_generic_plan",
             schema->name);
    PQclear(PQexec(c, set));
    char *prep = malloc(strlen(sql) + 32);
    sprintf(prep, "PREPARE page AS %s", sql);
    PGresult *r = PQexec(c, prep);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
    free(prep);
    char explain[200];
    snprintf(explain, sizeof explain, "EXPLAIN EXECUTE page(%s)", params);
    r = PQexec(c, explain);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    size_t len = 1;
    for (int i = 0; i < PQntuples(r); i++)
        len += strlen(PQgetvalue(r, i, 0)) + 1;
    char *plan = calloc(1, len);
    for (int i = 0; i < PQntuples(r); i++)
        strcat(strcat(plan, PQgetvalue(r, i, 0)), "\n");
    PQclear(r);
    PQfinish(c);
    return plan;
}

Test(pg, a_page_of_posts_is_read_through_its_index)
{
    struct pg_schema schema;
    pg_schema_open(&schema);
    /* Enough posts, by enough authors, that a scan of the table would cost more. */
    pg_schema_scalar(&schema,
                     "WITH i AS (INSERT INTO posts SELECT 'p-' || g, 'author-' || (g % 100),"
                     " 't', 'b', 1, now() + g * interval '1 s', now(), NULL"
                     " FROM generate_series(1, 20000) g RETURNING 1) SELECT count(*) FROM i");
    pg_schema_scalar(&schema, "SELECT count(*) FROM (SELECT pg_stat_clear_snapshot()) x");
    PGconn *c = PQconnectdb(getenv("DATABASE_URL"));
    char analyze[96];
    snprintf(analyze, sizeof analyze, "ANALYZE %s.posts", schema.name);
    PQclear(PQexec(c, analyze));
    PQfinish(c);
    char *plan = page_plan(&schema, pg_posts_by_author_sql, "0, 51, 'author-7', 0, 'p-0'");
    cr_assert(strstr(plan, "posts_by_author"), "by author, through its index:\n%s", plan);
    cr_assert_null(strstr(plan, "Seq Scan"), "%s", plan);
    free(plan);
    plan = page_plan(&schema, pg_posts_all_sql, "0, 51, 0, 'p-0'");
    cr_assert(strstr(plan, "posts_by_created"), "every post, through its index:\n%s", plan);
    cr_assert_null(strstr(plan, "Seq Scan"), "%s", plan);
    free(plan);
    pg_schema_close(&schema);
}

/*
 * A pipeline that could not be sent whole ends its connection (pipe_pg.c);
 * the next one, on a new connection, must not count the dead one's
 * statements among its own results, or its settle reads its own sync as a
 * statement and reports a commit that succeeded as lost.
 */
Test(pg, a_pipeline_cut_off_halfway_leaves_the_next_one_whole)
{
    struct pg_schema schema;
    pg_schema_open(&schema);
    struct pg_conn c = {.store = schema.store};
    struct pw_errbuf err;
    static const char one[] = "SELECT 1", two[] = "SELECT 2";
    cr_assert_eq(pg_connect(&c, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pg_pipe_send(&c, "one", one, 0, &(struct pg_params){0}, &err), PW_OK);
    pg_disconnect(&c); /* as a send that fails halfway does */
    cr_assert_eq(pg_connect(&c, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pg_pipe_send(&c, "two", two, 0, &(struct pg_params){0}, &err), PW_OK);
    cr_assert_eq(pg_pipe_sync(&c, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(pg_pipe_settle(&c, NULL, NULL, &err), PW_OK, "%s", err.msg);
    pg_disconnect(&c);
    pg_schema_close(&schema);
}
