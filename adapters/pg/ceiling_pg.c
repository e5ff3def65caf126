/*
 * The database's ceiling for this work, for make bench (not used by the
 * programs): the worker's own writes for n CreatePost commands (new posts,
 * inbox marks, outbox events, the partition's offset, then the relay's
 * clean-up of the outbox), with the unit of work's own statements, sent
 * with nothing else in the way: no Kafka, no JSON, no reads, every
 * statement of a batch pipelined in one round trip, with the same
 * durability (the batch commits synchronously; the clean-up, as the
 * relay's, with synchronous_commit off). In a schema of its own, dropped
 * after.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapters/pg/outbox_sql.h"
#include "adapters/pg/pg.h"
#include "adapters/pg/uow_pg.h"
#include "domain/event.h"

#define CEILING_STATEMENTS 10

static int ceiling_send(PGconn *c, const char *sql, int n, const char *const *vals)
{
    return PQsendQueryParams(c, sql, n, NULL, vals, NULL, NULL, 0) ? 0 : -1;
}

/* The statement with arrays a[0..n) as its parameters, sent as the unit of work sends them. */
static int ceiling_send_arrays(PGconn *c, const char *sql, struct pg_array *a, int n)
{
    const char *vals[PG_OB__COUNT];
    int lens[PG_OB__COUNT], fmts[PG_OB__COUNT];
    if (!pg_arrays_params(a, n, vals, lens, fmts))
        return -1;
    return PQsendQueryParams(c, sql, n, NULL, vals, lens, fmts, 0) ? 0 : -1;
}

static void ceiling_admin(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    PQclear(PQexec(c, "SET client_min_messages TO warning"));
    PQclear(PQexec(c, sql));
    PQfinish(c);
}

/* Command i's columns: its post, its inbox mark and its event. */
static void ceiling_bind(size_t i, const char *body, struct pg_array *posts,
                         struct pg_array *inbox, struct pg_array *ev)
{
    char id[64], title[32];
    snprintf(id, sizeof id, "ceiling-%zu", i);
    snprintf(title, sizeof title, "Post %zu", i);
    pw_time at = (pw_time)1795168800 * 1000000 + (pw_time)i;
    pg_array_add(&posts[0], id);
    pg_array_add(&posts[1], "Bench");
    pg_array_add(&posts[2], title);
    pg_array_add(&posts[3], body);
    pg_array_add_int(&posts[4], 1);
    pg_array_add_time(&posts[5], at);
    pg_array_add_time(&posts[6], at);
    pg_array_add_time(&posts[7], PW_TIME_NONE);
    pg_array_add(&inbox[0], "/bench");
    pg_array_add(&inbox[1], id);
    pg_array_add(&inbox[2], "ok");
    pg_array_add(&inbox[3], id);
    pg_array_add_int(&inbox[4], 1);
    struct pw_event e = {.type = PW_EVENT_POST_CREATED, .time = at};
    snprintf(e.id, sizeof e.id, "00000000-0000-5000-8000-%012zx", i);
    strcpy(e.source, "/bench");
    strcpy(e.causation_id, id);
    strcpy(e.correlation_id, id);
    snprintf(e.post.post_id, sizeof e.post.post_id, "%s", id);
    e.post.author_name = "Bench";
    e.post.title = title;
    e.post.body = (char *)body;
    e.post.version = 1;
    e.post.created_at = e.post.updated_at = at;
    e.post.deleted_at = PW_TIME_NONE;
    pg_outbox_bind_event(ev, "post-events", &e);
}

/* One batch [from, to) in one pipeline: its transaction, then the clean-up's. */
static enum pw_err ceiling_batch(PGconn *c, size_t from, size_t to, const char *body,
                                 struct pw_errbuf *err)
{
    struct pg_array posts[8] = {{0}}, inbox[5] = {{0}}, ev[PG_OB_EVENT_LAST + 1] = {{0}};
    struct pg_array off[4] = {{0}};
    pg_post_arrays(posts);
    pg_inbox_arrays(inbox);
    pg_outbox_arrays(ev, PG_OB_EVENT_LAST + 1);
    for (size_t i = from; i < to; i++)
        ceiling_bind(i, body, posts, inbox, ev);
    pg_array_add(&off[0], "bench");
    pg_array_add(&off[1], "post-commands");
    pg_array_add_int(&off[2], 0);
    pg_array_add_int(&off[3], (long long)to);
    int bad = ceiling_send(c, "BEGIN", 0, NULL) ||
              ceiling_send_arrays(c, pg_insert_posts_sql, posts, 8) ||
              ceiling_send_arrays(c, pg_insert_inbox_sql, inbox, 5) ||
              ceiling_send_arrays(c, pg_outbox_insert_events_sql(), ev, PG_OB_EVENT_LAST + 1) ||
              ceiling_send_arrays(c, pg_upsert_offsets_sql, off, 4) ||
              ceiling_send(c, "COMMIT", 0, NULL) ||
              ceiling_send(c, "BEGIN", 0, NULL) ||
              ceiling_send(c, "SET LOCAL synchronous_commit TO off", 0, NULL) ||
              ceiling_send(c, "DELETE FROM outbox", 0, NULL) ||
              ceiling_send(c, "COMMIT", 0, NULL) || !PQpipelineSync(c);
    enum pw_err rc = bad ? pw_err_set(err, PW_E_FATAL, "pipeline: %s", PQerrorMessage(c)) : PW_OK;
    for (int k = 0; !rc && k < CEILING_STATEMENTS; k++) {
        PGresult *r = PQgetResult(c);
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
            rc = pw_err_set(err, PW_E_FATAL, "statement %d: %s", k, PQresultErrorMessage(r));
        PQclear(r);
        PQclear(PQgetResult(c)); /* the NULL that ends each statement's results */
    }
    PGresult *sync = rc ? NULL : PQgetResult(c);
    if (!rc && PQresultStatus(sync) != PGRES_PIPELINE_SYNC)
        rc = pw_err_set(err, PW_E_FATAL, "the pipeline did not end in its sync");
    PQclear(sync);
    pg_arrays_release(posts, 8);
    pg_arrays_release(inbox, 5);
    pg_arrays_release(off, 4);
    pg_arrays_release(ev, PG_OB_EVENT_LAST + 1);
    return rc;
}

enum pw_err pw_pg_ceiling(const char *url, size_t n, size_t batch, double *seconds,
                          struct pw_errbuf *err)
{
    char schema[64], sql[128], conninfo[1200];
    snprintf(schema, sizeof schema, "ceiling_%d", (int)getpid());
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
    ceiling_admin(url, sql);
    struct pw_pg_store *store = NULL;
    int applied = 0;
    enum pw_err rc = pw_pg_store_new(&store, url, schema, err);
    if (!rc)
        rc = pw_pg_migrate(store, &applied, err);
    PGconn *c = NULL;
    if (!rc) {
        snprintf(conninfo, sizeof conninfo, "%s%soptions=-csearch_path%%3D%s", url,
                 strchr(url, '?') ? "&" : "?", schema);
        c = PQconnectdb(conninfo);
        if (PQstatus(c) != CONNECTION_OK || !PQenterPipelineMode(c))
            rc = pw_err_set(err, PW_E_FATAL, "%s", PQerrorMessage(c));
    }
    char body[301];
    for (size_t i = 0; i < 300; i++)
        body[i] = "abcdefghijklmnopqrstuvwxyz      "[i % 32];
    body[300] = '\0';
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t from = 0; !rc && from < n; from += batch)
        rc = ceiling_batch(c, from, from + batch < n ? from + batch : n, body, err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    PQfinish(c);
    pw_pg_store_free(store);
    snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
    ceiling_admin(url, sql);
    return rc;
}
