/*
 * Attempts on PostgreSQL: one upsert per call, for every partition of the
 * batch at once, on the unit of work's connection outside any transaction.
 *
 * It is the one write the normal path adds per batch, so it is made cheap:
 * the statement commits with synchronous_commit off (set for its own
 * transaction only, by set_config in the statement). The row is visible to
 * every other session, and survives the worker's death, the moment the
 * statement returns; only a crash of the server within its WAL writer's
 * delay could lose it, which costs one more try, never one less.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/pg/uow_pg.h"

static const char attempts_sql[] =
    "WITH quick AS (SELECT set_config('synchronous_commit', 'off', true))"
    " INSERT INTO run_attempts AS a (consumer_group, topic, partition, at_offset, tries)"
    " SELECT g, t, p, o, n"
    " FROM unnest($1::text[], $2::text[], $3::int4[], $4::int8[], $5::int4[]) AS u(g, t, p, o, n),"
    " quick"
    " ON CONFLICT (consumer_group, topic, partition) DO UPDATE"
    " SET tries = CASE WHEN a.at_offset = EXCLUDED.at_offset THEN a.tries + 1"
    " ELSE EXCLUDED.tries END, at_offset = EXCLUDED.at_offset"
    " RETURNING consumer_group, topic, partition, tries";

/* The row of res for a, or -1. */
static int attempts_row(const PGresult *res, const struct pw_attempt *a)
{
    for (int r = 0; r < PQntuples(res); r++)
        if (pg_int(res, r, 2) == a->partition && strcmp(PQgetvalue(res, r, 1), a->topic) == 0 &&
            strcmp(PQgetvalue(res, r, 0), a->group) == 0)
            return r;
    return -1;
}

enum pw_err pg_uow_attempts_start(void *self, struct pw_attempt *a, size_t n,
                                  struct pw_errbuf *err)
{
    struct pg_uow *u = self;
    if (!n)
        return PW_OK;
    struct pg_array c[5] = {{0}};
    for (size_t i = 0; i < n; i++) {
        pg_array_add(&c[0], a[i].group);
        pg_array_add(&c[1], a[i].topic);
        pg_array_add_int(&c[2], a[i].partition);
        pg_array_add_int(&c[3], a[i].offset);
        pg_array_add_int(&c[4], a[i].tries ? a[i].tries : 1);
    }
    const char *vals[5];
    enum pw_err rc = PW_OK;
    for (int i = 0; i < 5 && !rc; i++)
        if (!(vals[i] = pg_array_done(&c[i])))
            rc = pw_err_set(err, PW_E_NOMEM, "out of memory counting attempts");
    PGresult *res = NULL;
    if (!rc)
        rc = pg_connect(&u->conn, err);
    if (!rc)
        rc = pg_query(&u->conn, "count the attempts", attempts_sql, 5, vals, &res, err);
    pg_arrays_release(c, 5);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        int r = attempts_row(res, &a[i]);
        if (r < 0)
            rc = pw_err_set(err, PW_E_FATAL,
                            "counting attempts: no row came back for partition %d of '%s'",
                            (int)a[i].partition, a[i].topic);
        else
            a[i].tries = (unsigned)pg_int(res, r, 3);
    }
    PQclear(res);
    return rc;
}
