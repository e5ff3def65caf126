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
    /* A run below the stored offset reruns what is done: recorded, it would reset a count. */
    " WHERE NOT EXISTS (SELECT 1 FROM consumer_offsets c WHERE c.consumer_group = u.g"
    " AND c.topic = u.t AND c.partition = u.p AND u.o < c.next_offset)"
    " ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET"
    " died = a.at_offset = EXCLUDED.at_offset AND a.token <> 0 AND a.token <> EXCLUDED.ended,"
    " deaths = CASE WHEN a.at_offset = EXCLUDED.at_offset"
    " THEN a.deaths + CASE WHEN a.token <> 0 AND a.token <> EXCLUDED.ended AND a.alone"
    " THEN 1 ELSE 0 END"
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

static const char stored_sql[] =
    "SELECT next_offset FROM consumer_offsets"
    " WHERE consumer_group = $1 AND topic = $2 AND partition = $3";

/* Where r's partition stands, for a run that starts below it (a rare path: a paused worker). */
static enum pw_err runs_stored(struct pg_conn *c, struct pw_run_start *r, struct pw_errbuf *err)
{
    char part[16];
    snprintf(part, sizeof part, "%d", (int)r->partition);
    const char *vals[3] = {r->group, r->topic, part};
    PGresult *res = NULL;
    enum pw_err rc = pg_query(c, "read a stored offset", stored_sql, 3, vals, &res, err);
    if (!rc)
        r->stored = PQntuples(res) == 1 ? pg_int(res, 0, 0) : -1;
    PQclear(res);
    return rc;
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
        if (row < 0) { /* below the stored offset: not recorded */
            r[i].died = false;
            r[i].deaths = 0;
            rc = runs_stored(c, &r[i], err);
        } else {
            r[i].stored = -1;
            r[i].died = PQgetvalue(res, row, 3)[0] == 't';
            r[i].deaths = (unsigned)pg_int(res, row, 4);
        }
    }
    PQclear(res);
    return rc;
}

/* Token 0 marks a run that ended alive (runs_end): the next start counts no death for it. */
static const char runs_end_sql[] =
    "UPDATE run_attempts AS a SET token = 0"
    " FROM unnest($1::text[], $2::text[], $3::int4[], $4::int8[], $5::int8[])"
    " AS u(g, t, p, o, tok)"
    " WHERE a.consumer_group = u.g AND a.topic = u.t AND a.partition = u.p"
    " AND a.at_offset = u.o AND a.token = u.tok";

enum pw_err pg_runs_end(struct pg_conn *c, const struct pw_run_start *r, size_t n,
                        struct pw_errbuf *err)
{
    if (!n)
        return PW_OK;
    struct pg_array a[5] = {{0}};
    for (size_t i = 0; i < n; i++) {
        pg_array_add(&a[0], r[i].group);
        pg_array_add(&a[1], r[i].topic);
        pg_array_add_int(&a[2], r[i].partition);
        pg_array_add_int(&a[3], r[i].offset);
        pg_array_add_int(&a[4], (long long)r[i].token);
    }
    const char *vals[5];
    enum pw_err rc = PW_OK;
    for (int i = 0; i < 5 && !rc; i++)
        if (!(vals[i] = pg_array_done(&a[i])))
            rc = pw_err_set(err, PW_E_NOMEM, "out of memory ending runs");
    PGresult *res = NULL;
    if (!rc)
        rc = pg_connect(c, err);
    if (!rc)
        rc = pg_query(c, "end the runs", runs_end_sql, 5, vals, &res, err);
    pg_arrays_release(a, 5);
    PQclear(res);
    return rc;
}
