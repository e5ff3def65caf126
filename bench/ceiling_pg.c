/*
 * The database's ceiling for this work (make bench): the worker's own
 * writes for N CreatePost commands (new posts, inbox marks, outbox events,
 * the partition's offset, then the relay's clean-up of the outbox), sent
 * by a bare libpq client with nothing else in the way: no Kafka, no JSON,
 * no reads, every statement of a batch pipelined in one round trip, with
 * the same durability (the batch commits synchronously; the clean-up, as
 * the relay's, with synchronous_commit off). The same statements as
 * adapters/pg, so the figure is the ceiling of the worker's own SQL.
 *
 * Usage: build/bench-db-ceiling [-n COMMANDS] [--batch-size N], with
 * DATABASE_URL (make bench starts a server). It works in a schema of its
 * own and drops it. Prints one line: commands, seconds, commands/s.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapters/pg/outbox_sql.h"
#include "adapters/pg/pg.h"
#include "domain/event.h"

static const char posts_sql[] =
    "INSERT INTO posts (post_id, author_name, title, body, version, created_at, updated_at,"
    " deleted_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
    " $5::int4[], $6::timestamptz[], $7::timestamptz[], $8::timestamptz[])"
    " ON CONFLICT (post_id) DO NOTHING";
static const char inbox_sql[] =
    "INSERT INTO inbox (source, id, outcome) SELECT * FROM unnest($1::text[], $2::text[],"
    " $3::text[]) ON CONFLICT (source, id) DO NOTHING";
static const char offsets_sql[] =
    "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset)"
    " VALUES ('bench', 'post-commands', 0, $1) ON CONFLICT (consumer_group, topic, partition)"
    " DO UPDATE SET next_offset = GREATEST(consumer_offsets.next_offset, EXCLUDED.next_offset)";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int send(PGconn *c, const char *sql, int n, const char *const *vals)
{
    if (PQsendQueryParams(c, sql, n, NULL, vals, NULL, NULL, 0))
        return 0;
    fprintf(stderr, "bench-db-ceiling: %s", PQerrorMessage(c));
    return -1;
}

static void admin(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    PQclear(PQexec(c, "SET client_min_messages TO warning"));
    PQclear(PQexec(c, sql));
    PQfinish(c);
}

/* One batch [from, to) in one pipeline: its transaction, then the clean-up's. */
static int batch(PGconn *c, size_t from, size_t to, const char *body)
{
    struct pg_array posts[8] = {{0}}, inbox[3] = {{0}}, ev[PG_OB_EVENT_LAST + 1] = {{0}};
    for (size_t i = from; i < to; i++) {
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
    const char *pv[8], *iv[3], *evv[PG_OB_EVENT_LAST + 1];
    for (int k = 0; k < 8; k++)
        pv[k] = pg_array_done(&posts[k]);
    for (int k = 0; k < 3; k++)
        iv[k] = pg_array_done(&inbox[k]);
    for (int k = 0; k <= PG_OB_EVENT_LAST; k++)
        evv[k] = pg_array_done(&ev[k]);
    char next[24];
    snprintf(next, sizeof next, "%zu", to);
    const char *ov[] = {next};
    int rc = send(c, "BEGIN", 0, NULL) || send(c, posts_sql, 8, pv) || send(c, inbox_sql, 3, iv) ||
             send(c, pg_outbox_insert_events_sql(), PG_OB_EVENT_LAST + 1, evv) ||
             send(c, offsets_sql, 1, ov) || send(c, "COMMIT", 0, NULL) ||
             send(c, "BEGIN", 0, NULL) || send(c, "SET LOCAL synchronous_commit TO off", 0, NULL) ||
             send(c, "DELETE FROM outbox", 0, NULL) || send(c, "COMMIT", 0, NULL) ||
             !PQpipelineSync(c) ? -1 : 0;
    /* Ten statements, then the sync. */
    for (int k = 0; !rc && k < 10; k++) {
        PGresult *r = PQgetResult(c);
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            fprintf(stderr, "bench-db-ceiling: statement %d: %s", k, PQresultErrorMessage(r));
            rc = -1;
        }
        PQclear(r);
        PQclear(PQgetResult(c)); /* the NULL that ends each statement's results */
    }
    PGresult *sync = rc ? NULL : PQgetResult(c);
    if (!rc && PQresultStatus(sync) != PGRES_PIPELINE_SYNC)
        rc = -1;
    PQclear(sync);
    for (int k = 0; k < 8; k++)
        pg_array_release(&posts[k]);
    for (int k = 0; k < 3; k++)
        pg_array_release(&inbox[k]);
    for (int k = 0; k <= PG_OB_EVENT_LAST; k++)
        pg_array_release(&ev[k]);
    return rc;
}

int main(int argc, char **argv)
{
    size_t n = 100000, size = 500;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            n = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--batch-size") == 0 && i + 1 < argc)
            size = strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench-db-ceiling [-n COMMANDS] [--batch-size N]\n");
            return 2;
        }
    }
    const char *url = getenv("DATABASE_URL");
    if (!url || !n || !size) {
        fprintf(stderr, "bench-db-ceiling: needs DATABASE_URL (make bench starts a server)\n");
        return 2;
    }
    char schema[64], sql[128], conninfo[1200];
    snprintf(schema, sizeof schema, "ceiling_%d", (int)getpid());
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", schema);
    admin(url, sql);
    struct pw_pg_store *store = NULL;
    struct pw_errbuf err;
    int applied = 0, status = 1;
    if (pw_pg_store_new(&store, url, schema, &err) || pw_pg_migrate(store, &applied, &err)) {
        fprintf(stderr, "bench-db-ceiling: %s\n", err.msg);
        goto out;
    }
    snprintf(conninfo, sizeof conninfo, "%s%soptions=-csearch_path%%3D%s", url,
             strchr(url, '?') ? "&" : "?", schema);
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK || !PQenterPipelineMode(c)) {
        fprintf(stderr, "bench-db-ceiling: %s", PQerrorMessage(c));
        PQfinish(c);
        goto out;
    }
    char body[301];
    for (size_t i = 0; i < 300; i++)
        body[i] = "abcdefghijklmnopqrstuvwxyz      "[i % 32];
    body[300] = '\0';
    double t0 = now_s();
    int rc = 0;
    for (size_t from = 0; from < n && !rc; from += size)
        rc = batch(c, from, from + size < n ? from + size : n, body);
    double secs = now_s() - t0;
    PQfinish(c);
    if (!rc) {
        printf("%zu %.3f %.0f\n", n, secs, (double)n / secs);
        status = 0;
    }
out:
    pw_pg_store_free(store);
    snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
    admin(url, sql);
    return status;
}
