/*
 * The PostgreSQL outbox reader, on a connection of its own.
 *
 * One relay at a time across all workers: the reader publishes only while
 * it holds a session advisory lock, so the events of one post leave in seq
 * order even with several workers, and a crashed worker's lock (and with it
 * the relay) passes to another when its session ends.
 *
 * It never skips a row: each peek takes the lowest seqs still present, and
 * rows go only when the bus acknowledged them, so a transaction that
 * committed late is simply picked up by the next peek. There is no
 * high-water mark to pass it by.
 *
 * It wakes on commit: this process's commits set store->dirty; other
 * processes' commits arrive as NOTIFY pw_outbox. With neither, a peek costs
 * no query at all.
 */
#include "adapters/pg/outbox_sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The relay lock: an arbitrary constant and the schema, as for the migrations. */
#define PG_RELAY_LOCK "730531, hashtext(current_schema())"
/* A reader without the lock asks again this often, in case its holder died. */
#define PG_LEADER_RETRY_MS 1000

struct pg_outbox {
    struct pg_conn conn;
    bool listening;
    bool leader;
    int64_t last_try_ms; /* on the monotonic clock: a step of the wall clock changes nothing */
    bool tried;
};

static int64_t pg_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Connects if needed. A new session holds neither the relay lock nor the
 * LISTEN of the old one: every path that may reconnect comes through here,
 * so that no reconnect leaves the reader believing it is still the relay.
 */
static enum pw_err pg_outbox_connect(struct pg_outbox *o, struct pw_errbuf *err)
{
    if (!o->conn.pg || PQstatus(o->conn.pg) != CONNECTION_OK)
        o->listening = o->leader = false;
    return pg_connect(&o->conn, err);
}

/* Connects, listens and takes the relay lock as needed; false if not the relay. */
static enum pw_err pg_outbox_ready(struct pg_outbox *o, bool *leader, struct pw_errbuf *err)
{
    enum pw_err rc = pg_outbox_connect(o, err);
    if (!rc && !o->listening) {
        /*
         * Removing published rows needs no fsync of its own: a removal lost
         * to a crash only publishes those events again, which at-least-once
         * allows. The unit of work's commits stay synchronous.
         */
        rc = pg_query(&o->conn, "listen", "SET synchronous_commit TO off; LISTEN pw_outbox", -1,
                      NULL, NULL, err);
        o->listening = !rc;
    }
    if (rc)
        return rc;
    /* Notifications from other workers' commits: there may be rows to publish. */
    PQconsumeInput(o->conn.pg);
    PGnotify *n;
    while ((n = PQnotifies(o->conn.pg))) {
        atomic_store(&o->conn.store->dirty, 1);
        PQfreemem(n);
    }
    int64_t now = pg_monotonic_ms();
    if (!o->leader && (!o->tried || now - o->last_try_ms >= PG_LEADER_RETRY_MS)) {
        PGresult *res = NULL;
        o->last_try_ms = now;
        o->tried = true;
        rc = pg_query(&o->conn, "take the relay lock",
                      "SELECT pg_try_advisory_lock(" PG_RELAY_LOCK ")", 0, NULL, &res, err);
        if (rc)
            return rc;
        o->leader = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        if (o->leader)
            atomic_store(&o->conn.store->dirty, 1); /* a new relay looks for leftovers */
    }
    *leader = o->leader;
    return PW_OK;
}

static enum pw_err pg_outbox_peek(void *self, struct pw_out *outs, uint64_t *seqs, size_t max,
                                  size_t *n, struct pw_errbuf *err)
{
    struct pg_outbox *o = self;
    bool leader = false;
    *n = 0;
    enum pw_err rc = pg_outbox_ready(o, &leader, err);
    if (rc || !leader || !atomic_exchange(&o->conn.store->dirty, 0))
        return rc;
    char limit[24], cap[24];
    snprintf(limit, sizeof limit, "%zu", max);
    snprintf(cap, sizeof cap, "%u", PW_OUT_ROUND_BYTES);
    const char *vals[] = {limit, cap};
    PGresult *res = NULL;
    rc = pg_query(&o->conn, "read the outbox", pg_outbox_select_sql(), 2, vals, &res, err);
    if (rc) {
        atomic_store(&o->conn.store->dirty, 1);
        return rc;
    }
    int rows = PQntuples(res);
    for (int r = 0; r < rows && !rc; r++) {
        rc = pg_outbox_fill(&outs[r], res, r, err);
        seqs[r] = (uint64_t)pg_int(res, r, 0);
        if (!rc)
            (*n)++;
    }
    PQclear(res);
    /*
     * Only an empty outbox may sleep until the next commit: rows returned stay
     * until removed, and a relay whose publish failed must find them again.
     */
    if (rc || rows > 0)
        atomic_store(&o->conn.store->dirty, 1);
    if (rc) {
        for (size_t i = 0; i < *n; i++)
            pw_out_release(&outs[i]);
        *n = 0;
    }
    return rc;
}

static enum pw_err pg_outbox_remove(void *self, const uint64_t *seqs, size_t n,
                                    struct pw_errbuf *err)
{
    struct pg_outbox *o = self;
    struct pg_array a = {0};
    for (size_t i = 0; i < n; i++)
        pg_array_add_int(&a, (long long)seqs[i]);
    const char *vals[] = {pg_array_done(&a)};
    enum pw_err rc = vals[0] ? pg_outbox_connect(o, err)
                             : pw_err_set(err, PW_E_NOMEM, "out of memory");
    if (!rc)
        rc = pg_query(&o->conn, "remove published rows",
                      "DELETE FROM outbox WHERE seq = ANY($1::int8[])", 1, vals, NULL, err);
    pg_array_release(&a);
    if (rc) /* the rows stay, and are published again: at least once */
        atomic_store(&o->conn.store->dirty, 1);
    return rc;
}

static enum pw_err pg_outbox_high(void *self, uint64_t *seq, struct pw_errbuf *err)
{
    struct pg_outbox *o = self;
    PGresult *res = NULL;
    enum pw_err rc = pg_outbox_connect(o, err);
    if (!rc)
        rc = pg_query(&o->conn, "read the outbox's end", "SELECT coalesce(max(seq), 0) FROM outbox",
                      0, NULL, &res, err);
    if (rc)
        return rc;
    *seq = (uint64_t)pg_int(res, 0, 0);
    PQclear(res);
    return PW_OK;
}

static enum pw_err pg_outbox_stats(void *self, int64_t *pending, int64_t *oldest_ms,
                                   struct pw_errbuf *err)
{
    struct pg_outbox *o = self;
    PGresult *res = NULL;
    enum pw_err rc = pg_outbox_connect(o, err);
    if (!rc)
        rc = pg_query(&o->conn, "count the outbox",
                      "SELECT count(*), coalesce((extract(epoch FROM clock_timestamp()"
                      " - min(enqueued_at)) * 1000)::int8, 0) FROM outbox",
                      0, NULL, &res, err);
    if (rc)
        return rc;
    *pending = pg_int(res, 0, 0);
    *oldest_ms = pg_int(res, 0, 1);
    if (*oldest_ms < 0)
        *oldest_ms = 0;
    PQclear(res);
    return PW_OK;
}

static void pg_outbox_close(void *self)
{
    struct pg_outbox *o = self;
    if (!o)
        return;
    pg_disconnect(&o->conn);
    free(o);
}

static const struct pw_outbox_ops pg_outbox_ops = {
    .name = "pg",
    .peek = pg_outbox_peek,
    .high = pg_outbox_high,
    .stats = pg_outbox_stats,
    .remove = pg_outbox_remove,
    .close = pg_outbox_close,
};

enum pw_err pw_pg_outbox_open(struct pw_outbox *outbox, struct pw_pg_store *store)
{
    struct pg_outbox *o = calloc(1, sizeof *o);
    if (!o)
        return PW_E_NOMEM;
    o->conn.store = store;
    outbox->ops = &pg_outbox_ops;
    outbox->self = o;
    return PW_OK;
}
