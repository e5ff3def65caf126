/* Per-test schemas on the test server. */
#include "tests/pg_world.h"

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "tests/helpers.h"

void pg_admin(const char *sql)
{
    PGconn *c = PQconnectdb(getenv("DATABASE_URL"));
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
    PGresult *r = PQexec(c, sql);
    cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
              "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

long long pg_schema_versions_ahead(struct pg_schema *s, const char *prefix, const long *seen,
                                   int n)
{
    size_t cap = (size_t)n * 48 + 256;
    char *sql = malloc(cap);
    int len = snprintf(sql, cap, "SELECT count(*) FROM (VALUES ");
    for (int k = 0; k < n; k++)
        len += snprintf(sql + len, cap - (size_t)len, "%s('%s-%d', %ld)", k ? "," : "", prefix, k,
                        seen[k]);
    snprintf(sql + len, cap - (size_t)len,
             ") AS e(post_id, v) LEFT JOIN posts p USING (post_id)"
             " WHERE e.v > coalesce(p.version, 0)");
    long long ahead = pg_schema_scalar(s, sql);
    free(sql);
    return ahead;
}

void pg_slow_wal_writer(bool slow)
{
    if (slow)
        pg_admin("CHECKPOINT");
    pg_admin(slow ? "ALTER SYSTEM SET wal_writer_delay = '10s'"
                  : "ALTER SYSTEM RESET wal_writer_delay");
    pg_admin("SELECT pg_reload_conf()");
    if (slow)
        nanosleep(&(struct timespec){1, 0}, NULL); /* the writer reads it a moment later */
}

void pg_server(const char *how)
{
    const char *ctl = getenv("PW_PG_CTL");
    cr_assert(ctl, "PW_PG_CTL is not set: run under tools/with-postgres");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s >/dev/null", ctl, how);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

void pg_schema_open(struct pg_schema *s)
{
    const char *url = getenv("DATABASE_URL");
    if (!url || !*url)
        cr_skip_test("DATABASE_URL is not set: run under tools/with-postgres (make test does)");
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(s->name, sizeof s->name, "t_%d_%u_%ld", (int)getpid(), counter++, ts.tv_nsec);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", s->name);
    pg_admin(sql);
    struct pw_errbuf err;
    cr_assert_eq(pw_pg_store_new(&s->store, url, s->name, &err), PW_OK, "%s", err.msg);
    int applied = 0;
    cr_assert_eq(pw_pg_migrate(s->store, &applied, &err), PW_OK, "%s", err.msg);
    cr_assert_gt(applied, 0);
}

void pg_schema_close(struct pg_schema *s)
{
    pw_pg_store_free(s->store);
    char sql[128];
    snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", s->name);
    pg_admin(sql);
}

long long pg_schema_scalar(struct pg_schema *s, const char *sql)
{
    PGconn *c = PQconnectdb(getenv("DATABASE_URL"));
    char path[128];
    snprintf(path, sizeof path, "SET search_path = %s", s->name);
    PQclear(PQexec(c, path));
    PGresult *r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(r));
    long long v = PQntuples(r) && !PQgetisnull(r, 0, 0) ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    return v;
}

static void pg_open(struct store *s)
{
    struct pg_schema *schema = calloc(1, sizeof *schema);
    pg_schema_open(schema);
    cr_assert_eq(pw_pg_uow_open(&s->uow, schema->store), PW_OK);
    cr_assert_eq(pw_pg_uow_open(&s->uow2, schema->store), PW_OK);
    cr_assert_eq(pw_pg_store_open(&s->st, schema->store), PW_OK);
    cr_assert_eq(pw_pg_store_open(&s->st2, schema->store), PW_OK);
    cr_assert_eq(pw_pg_outbox_open(&s->outbox, schema->store), PW_OK);
    cr_assert_eq(pw_pg_outbox_open(&s->outbox2, schema->store), PW_OK);
    cr_assert_eq(pw_pg_query_open(&s->q, schema->store), PW_OK);
    s->priv = schema;
}

static void pg_close(struct store *s)
{
    pw_query_close(&s->q);
    pw_outbox_close(&s->outbox2);
    pw_outbox_close(&s->outbox);
    pw_store_close(&s->st2);
    pw_store_close(&s->st);
    pw_uow_close(&s->uow2);
    pw_uow_close(&s->uow);
    pg_schema_close(s->priv);
    free(s->priv);
}

const struct store_adapter store_pg_adapter = {.open = pg_open, .close = pg_close};

