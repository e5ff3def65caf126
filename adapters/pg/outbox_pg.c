/*
 * The PostgreSQL outbox reader, on a connection of its own.
 *
 * One relay at a time across all workers: the reader publishes only while
 * it holds the relay's lease (adapters/pg/lease_pg.c, on the database's clock),
 * so the events of one post leave in seq order even with several workers.
 * The holder renews it as it reads; a holder that stops renewing (dead, or
 * stopped: SIGSTOP, a frozen VM, whose session stays open) loses it after
 * PG_LEASE_MS, and the next reader to ask takes it over. A holder counts
 * its lease from before it asked, on its own monotonic clock, so it always
 * believes it holds the lease for less time than the database gives it; it
 * returns rows only with PG_LEASE_SPARE_MS of that left, time to hand them
 * to the bus. A holder that wakes from a pause finds its lease gone at its
 * next read. (A pause of more than the spare between handing a round to
 * librdkafka and librdkafka sending it, a window of microseconds, can
 * still publish that round late: at least once, as ever.)
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

#include "adapters/pg/lease_pg.h"

/* The relay hands rows to the bus only with this much of its lease left. */
#define PG_LEASE_SPARE_MS 1000

struct pg_outbox {
    struct pg_conn conn;
    bool listening;
    bool waits_for_writer; /* relaxed, and a flush cannot be forced here: the WAL writer's */
    struct pg_lease lease; /* the relay's role */
};

/*
 * Connects if needed. A new session holds neither the relay lock nor the
 * LISTEN of the old one: every path that may reconnect comes through here,
 * so that no reconnect leaves the reader believing it is still the relay.
 */
static enum pw_err pg_outbox_connect(struct pg_outbox *o, struct pw_errbuf *err)
{
    if (!o->conn.pg || PQstatus(o->conn.pg) != CONNECTION_OK) {
        o->listening = false;
        pg_lease_forget(&o->lease);
    }
    return pg_connect(&o->conn, err);
}

/* Connects, listens and takes or renews the relay lease as needed; false if not the relay. */
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
    bool fresh = false;
    rc = pg_lease_hold(&o->lease, &o->conn, PG_LEASE_SPARE_MS, leader, &fresh, err);
    if (fresh)
        atomic_store(&o->conn.store->dirty, 1); /* a new relay looks for leftovers */
    return rc;
}

/*
 * Relaxed durability (pg.h): makes sure the WAL is on disk up to lsn, as
 * this connection sees it. If the flush position is behind, the reader
 * makes it pass: a synchronous commit of its own (a transactional WAL
 * message, the smallest write there is, needing no table) flushes the WAL
 * through everything before it, every commit waiting at once; it returns
 * once its own commit, written after the message whose position it
 * answers, is on disk. Where that function is refused (a managed service
 * may revoke it), the reader waits for the WAL writer instead, which
 * flushes an asynchronous commit within three wal_writer_delay (600 ms by
 * default). Transient while the flush is not seen, so that nothing is
 * published, and no offset committed, ahead of the disk.
 */
static enum pw_err pg_outbox_flushed(struct pg_outbox *o, uint64_t lsn, struct pw_errbuf *err)
{
    int most = o->waits_for_writer ? 40 : 2;
    for (int tries = 0; o->conn.flushed_lsn < lsn; tries++) {
        PGresult *res = NULL;
        if (tries == most)
            return pw_err_set(err, PW_E_TRANSIENT,
                              "the database has not flushed the commits of the events to send");
        enum pw_err rc = PW_OK;
        bool forced = false; /* then res holds the message's position, below the flush */
        if (tries > 0 && o->waits_for_writer) {
            nanosleep(&(struct timespec){0, 25 * 1000 * 1000}, NULL);
        } else if (tries > 0) {
            /* One statement, its own transaction: a failure leaves no block open. */
            rc = pg_query(&o->conn, "flush the WAL",
                          "SELECT pg_logical_emit_message(true, 'postworker', 'flush')::text"
                          " FROM set_config('synchronous_commit', 'on', true)",
                          0, NULL, &res, err);
            forced = rc == PW_OK;
            if (rc == PW_E_FATAL && strcmp(o->conn.sqlstate, "42501") == 0) { /* refused */
                o->waits_for_writer = true;
                most = 40;
                rc = PW_OK;
            }
        }
        if (!rc && !forced)
            rc = pg_query(&o->conn, "read the WAL's flush", "SELECT pg_current_wal_flush_lsn()::text",
                          0, NULL, &res, err);
        if (rc)
            return rc;
        uint64_t at = pg_lsn(PQgetvalue(res, 0, 0));
        PQclear(res);
        if (at > o->conn.flushed_lsn)
            o->conn.flushed_lsn = at;
    }
    return PW_OK;
}

/* The WAL on disk through own (this process's commits, if mine: confirmed then) and end. */
static enum pw_err pg_outbox_own_flushed(struct pg_outbox *o, bool mine, uint64_t own,
                                         uint64_t end, struct pw_errbuf *err)
{
    enum pw_err rc = pg_outbox_flushed(o, own > end ? own : end, err);
    if (!rc && mine)
        pg_relaxed_confirmed(o->conn.store, own);
    return rc;
}

/*
 * The rows just read: a commit becomes visible only once its record is in
 * the WAL, so all of theirs lie below the insert position read after them.
 */
static enum pw_err pg_outbox_rows_end(struct pg_outbox *o, uint64_t *end, struct pw_errbuf *err)
{
    PGresult *res = NULL;
    enum pw_err rc = pg_query(&o->conn, "read the WAL's end",
                              PG_WAL_END_SQL, 0, NULL, &res, err);
    if (rc)
        return rc;
    *end = pg_lsn(PQgetvalue(res, 0, 0));
    PQclear(res);
    return PW_OK;
}

static enum pw_err pg_outbox_peek(void *self, struct pw_out *outs, uint64_t *seqs, size_t max,
                                  size_t *n, struct pw_errbuf *err)
{
    struct pg_outbox *o = self;
    bool leader = false;
    *n = 0;
    enum pw_err rc = pg_outbox_ready(o, &leader, err);
    /*
     * Relaxed: this process's own commits are on disk before this returns,
     * relay or not (the caller then commits their offsets to the source),
     * and so are the rows it returns: one flush for both.
     */
    bool relaxed = o->conn.store->relaxed;
    uint64_t own = 0, end = 0;
    bool mine = false;
    if (!rc && relaxed)
        rc = pg_relaxed_vouch(&o->conn, &mine, &own, err);
    if (rc)
        return rc;
    if (!leader || !atomic_exchange(&o->conn.store->dirty, 0))
        return relaxed ? pg_outbox_own_flushed(o, mine, own, 0, err) : PW_OK;
    char limit[24], cap[24];
    snprintf(limit, sizeof limit, "%zu", max);
    snprintf(cap, sizeof cap, "%u", PW_OUT_ROUND_BYTES);
    const char *vals[] = {limit, cap};
    PGresult *res = NULL;
    rc = pg_query_binary(&o->conn, "read the outbox", pg_outbox_select_sql(), 2, vals, &res,
                         err);
    if (rc) {
        atomic_store(&o->conn.store->dirty, 1);
        return rc;
    }
    int rows = PQntuples(res);
    if (relaxed && rows > 0)
        rc = pg_outbox_rows_end(o, &end, err);
    if (!rc && relaxed)
        rc = pg_outbox_own_flushed(o, mine, own, end, err);
    if (rc) {
        PQclear(res);
        atomic_store(&o->conn.store->dirty, 1);
        return rc;
    }
    if (o->lease.end_ms - pg_monotonic_ms() < PG_LEASE_SPARE_MS) {
        /* Paused while it read: the lease may be another's by now. Ask again first. */
        PQclear(res);
        atomic_store(&o->conn.store->dirty, 1);
        o->lease.end_ms = 0;
        return PW_OK;
    }
    for (int r = 0; r < rows && !rc; r++) {
        rc = pg_outbox_fill(&outs[r], res, r, err);
        seqs[r] = (uint64_t)pg_bin_int(res, r, 0);
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

static enum pw_err pg_outbox_stats(void *self, int64_t *pending, int64_t *dead_letters,
                                   int64_t *oldest_ms, struct pw_errbuf *err)
{
    struct pg_outbox *o = self;
    PGresult *res = NULL;
    enum pw_err rc = pg_outbox_connect(o, err);
    if (!rc)
        rc = pg_query(&o->conn, "count the outbox",
                      "SELECT count(*), coalesce((extract(epoch FROM clock_timestamp()"
                      " - min(enqueued_at)) * 1000)::int8, 0), count(dl_code) FROM outbox",
                      0, NULL, &res, err);
    if (rc)
        return rc;
    *pending = pg_int(res, 0, 0);
    *oldest_ms = pg_int(res, 0, 1);
    *dead_letters = pg_int(res, 0, 2);
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
    pg_lease_give_up(&o->lease, &o->conn); /* a clean stop hands the role over at once */
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
    pg_lease_init(&o->lease, "relay");
    outbox->ops = &pg_outbox_ops;
    outbox->self = o;
    return PW_OK;
}
