/*
 * Runs on PostgreSQL (ports/store.h, runs_start): one upsert for every
 * partition of a run at once, on the store port's connection, outside any
 * transaction of the unit of work.
 *
 * It is the one write the normal path adds per batch, so it is made cheap:
 * the statement commits with synchronous_commit off (set for its own
 * transaction only, by set_config in the statement). The row is visible to
 * every other session, and survives the worker's death, the moment the
 * statement returns; only a crash of the server within its WAL writer's
 * delay could lose it, which costs one more try, never one less.
 *
 * The verdict is computed from the row as it was, in the same statement:
 * an upsert's SET sees the old row, and `ended` travels in a column of the
 * new one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/pg/uow_pg.h"

static const char runs_sql[] =
    "WITH quick AS (SELECT set_config('synchronous_commit', 'off', true))"
    " INSERT INTO run_attempts AS a (consumer_group, topic, partition, at_offset, token, ended,"
    " alone, deaths, died)"
    " SELECT g, t, p, o, tok, e, al, 0, false"
    " FROM unnest($1::text[], $2::text[], $3::int4[], $4::int8[], $5::int8[], $6::int8[],"
    " $7::bool[]) AS u(g, t, p, o, tok, e, al), quick"
    " ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET"
    " died = a.at_offset = EXCLUDED.at_offset AND a.token <> EXCLUDED.ended,"
    " deaths = CASE WHEN a.at_offset = EXCLUDED.at_offset"
    " THEN a.deaths + CASE WHEN a.token <> EXCLUDED.ended AND a.alone THEN 1 ELSE 0 END"
    " ELSE 0 END,"
    " at_offset = EXCLUDED.at_offset, token = EXCLUDED.token, ended = EXCLUDED.ended,"
    " alone = EXCLUDED.alone"
    " RETURNING consumer_group, topic, partition, died, deaths";

/* The row of res for r, or -1. */
static int runs_row(const PGresult *res, const struct pw_run_start *r)
{
    for (int i = 0; i < PQntuples(res); i++)
        if (pg_int(res, i, 2) == r->partition && strcmp(PQgetvalue(res, i, 1), r->topic) == 0 &&
            strcmp(PQgetvalue(res, i, 0), r->group) == 0)
            return i;
    return -1;
}

enum pw_err pg_runs_start(struct pg_conn *c, struct pw_run_start *r, size_t n,
                          struct pw_errbuf *err)
{
    if (!n)
        return PW_OK;
    struct pg_array a[7] = {{0}};
    for (size_t i = 0; i < n; i++) {
        pg_array_add(&a[0], r[i].group);
        pg_array_add(&a[1], r[i].topic);
        pg_array_add_int(&a[2], r[i].partition);
        pg_array_add_int(&a[3], r[i].offset);
        pg_array_add_int(&a[4], (long long)r[i].token); /* bigint holds the 64 bits, sign aside */
        pg_array_add_int(&a[5], (long long)r[i].ended);
        pg_array_add(&a[6], r[i].alone ? "t" : "f");
    }
    const char *vals[7];
    enum pw_err rc = PW_OK;
    for (int i = 0; i < 7 && !rc; i++)
        if (!(vals[i] = pg_array_done(&a[i])))
            rc = pw_err_set(err, PW_E_NOMEM, "out of memory counting runs");
    PGresult *res = NULL;
    if (!rc)
        rc = pg_connect(c, err);
    if (!rc)
        rc = pg_query(c, "count the runs", runs_sql, 7, vals, &res, err);
    pg_arrays_release(a, 7);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && !rc; i++) {
        int row = runs_row(res, &r[i]);
        if (row < 0) {
            rc = pw_err_set(err, PW_E_FATAL,
                            "counting runs: no row came back for partition %d of '%s'",
                            (int)r[i].partition, r[i].topic);
        } else {
            r[i].died = PQgetvalue(res, row, 3)[0] == 't';
            r[i].deaths = (unsigned)pg_int(res, row, 4);
        }
    }
    PQclear(res);
    return rc;
}
