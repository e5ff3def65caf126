/*
 * The PostgreSQL unit of work's commit-time writes: one multi-row statement
 * per table (unnest of array parameters), whatever the batch's size.
 *
 * Each write is checked: inserts of posts and inbox marks must all land and
 * an update applies only at the version the transaction read. Fewer rows
 * than expected means another transaction got there first: a serialization
 * failure (transient), and the batch is rerun.
 */
#include "adapters/pg/uow_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/pg/lease_pg.h"
#include "adapters/pg/outbox_sql.h"

int pg_grow(void **v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    void *p = realloc(*v, n * size);
    if (!p)
        return -1;
    *v = p;
    *cap = n;
    return 0;
}

/* Offsets are buffered like every write, and sent at commit by pg_write_offsets. */
enum pw_err pg_uow_offset_put(void *self, const char *group, const char *topic,
                                     int32_t partition, int64_t offset, struct pw_errbuf *err)
{
    struct pg_uow *u = self;
    if (!u->open)
        return pw_err_set(err, PW_E_FATAL, "no transaction is open: call begin first");
    size_t k = 0;
    while (k < u->noffsets &&
           !(u->offsets[k].partition == partition && strcmp(u->offsets[k].topic, topic) == 0 &&
             strcmp(u->offsets[k].group, group) == 0))
        k++;
    if (k == u->noffsets) {
        size_t ng = strlen(group) + 1, nt = strlen(topic) + 1;
        char *buf = malloc(ng + nt);
        if (!buf || pg_grow((void **)&u->offsets, &u->cap_offsets, k + 1, sizeof *u->offsets)) {
            free(buf);
            return pw_err_set(err, PW_E_NOMEM, "out of memory storing an offset");
        }
        memcpy(buf, group, ng);
        memcpy(buf + ng, topic, nt);
        u->offsets[k] = (struct pg_offset){
            .group = buf, .topic = buf + ng, .partition = partition, .next = offset, .buf = buf};
        u->noffsets++;
    }
    if (offset > u->offsets[k].next)
        u->offsets[k].next = offset;
    return PW_OK;
}

/* Runs a write of n rows from arrays; fewer rows than want (>= 0) is a lost race. */
static enum pw_err pg_write_as(struct pg_uow *u, const char *what, const char *sql,
                               struct pg_array *cols, int ncols, long long want, bool planned,
                               struct pw_errbuf *err)
{
    const char *vals[PG_OB__COUNT];
    int lens[PG_OB__COUNT], fmts[PG_OB__COUNT];
    if (ncols > PG_OB__COUNT)
        return pw_err_set(err, PW_E_FATAL, "writing %s: %d columns is more than %d", what, ncols,
                          PG_OB__COUNT);
    if (!pg_arrays_params(cols, ncols, vals, lens, fmts))
        return pw_err_set(err, PW_E_NOMEM, "out of memory writing %s", what);
    struct pg_params ps = {vals, lens, fmts};
    if (u->sending) /* only writes that cannot come back short: want is not checked */
        return pg_pipe_send(&u->conn, what, sql, ncols, &ps, err);
    PGresult *res = NULL;
    enum pw_err rc = pg_query_params(&u->conn, what, sql, ncols, &ps, planned, false, &res, err);
    if (rc)
        return rc;
    long long got = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    if (want >= 0 && got != want)
        return pw_err_set(err, PW_E_TRANSIENT,
                          "serialization failure writing %s: %lld of %lld rows; another "
                          "transaction changed them first",
                          what, got, want);
    return PW_OK;
}

/* An insert: its plan is the same at any size, made once (pg_query). */
static enum pw_err pg_write(struct pg_uow *u, const char *what, const char *sql,
                            struct pg_array *cols, int ncols, long long want,
                            struct pw_errbuf *err)
{
    return pg_write_as(u, what, sql, cols, ncols, want, false, err);
}

static void pg_post_columns(struct pg_array *c, const struct pw_post *p)
{
    pg_array_add(&c[0], p->post_id);
    pg_array_add(&c[1], p->author_name);
    pg_array_add(&c[2], p->title);
    pg_array_add(&c[3], p->body);
    pg_array_add_int(&c[4], p->version);
    pg_array_add_time(&c[5], p->created_at);
    pg_array_add_time(&c[6], p->updated_at);
    pg_array_add_time(&c[7], p->deleted_at);
}

void pg_post_arrays(struct pg_array *c)
{
    for (int i = 0; i < 4; i++) /* post_id, author_name, title, body */
        pg_array_binary(&c[i], PG_OID_TEXT);
    for (int i = 5; i < 8; i++) /* created_at, updated_at, deleted_at */
        pg_array_binary(&c[i], PG_OID_TIMESTAMPTZ);
}

void pg_inbox_arrays(struct pg_array *c)
{
    for (int i = 0; i < 4; i++) /* source, id, outcome, post_id */
        pg_array_binary(&c[i], PG_OID_TEXT);
}

#define PG_POST_ARRAYS                                                                         \
    "$1::text[], $2::text[], $3::text[], $4::text[], $5::int4[], $6::timestamptz[], "         \
    "$7::timestamptz[], $8::timestamptz[]"

const char pg_insert_posts_sql[] =
    "INSERT INTO posts (post_id, author_name, title, body, version, created_at, updated_at,"
    " deleted_at) SELECT * FROM unnest(" PG_POST_ARRAYS ") ON CONFLICT (post_id) DO NOTHING";
const char pg_insert_inbox_sql[] =
    "INSERT INTO inbox (source, id, outcome, post_id, version) SELECT * FROM unnest($1::text[],"
    " $2::text[], $3::text[], $4::text[], $5::int4[]) ON CONFLICT (source, id) DO NOTHING";
/* GREATEST: a stored offset never moves backwards, whoever writes last. */
const char pg_upsert_offsets_sql[] =
    "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::int4[], $4::int8[])"
    " ON CONFLICT (consumer_group, topic, partition) DO UPDATE"
    " SET next_offset = GREATEST(consumer_offsets.next_offset, EXCLUDED.next_offset)";

/*
 * The posts are found by post_id = ANY($1) as well as by the join, which
 * alone hashed a scan of every post; and the statement is planned for its
 * values each time (pg_query_params, planned), as posts grows under the worker.
 */
const char pg_update_posts_sql[] =
    "UPDATE posts p SET author_name = u.author_name, title = u.title,"
    " body = u.body, version = u.version, created_at = u.created_at,"
    " updated_at = u.updated_at, deleted_at = u.deleted_at"
    " FROM unnest(" PG_POST_ARRAYS ", $9::int4[]) AS u(post_id, author_name,"
    " title, body, version, created_at, updated_at, deleted_at, base)"
    " WHERE p.post_id = ANY($1::text[]) AND p.post_id = u.post_id AND p.version = u.base";

static enum pw_err pg_write_posts(struct pg_uow *u, struct pw_errbuf *err)
{
    struct pg_array ins[8] = {{0}}, upd[9] = {{0}};
    pg_post_arrays(ins);
    pg_post_arrays(upd);
    enum pw_err rc = PW_OK;
    for (size_t i = 0; i < u->nposts; i++) {
        struct pg_post_slot *s = u->posts[i];
        if (!s->written)
            continue;
        if (s->base == 0) {
            pg_post_columns(ins, &s->post);
        } else {
            pg_post_columns(upd, &s->post);
            pg_array_add_int(&upd[8], s->base);
        }
    }
    if (ins[0].n)
        rc = pg_write(u, "new posts",
                      pg_insert_posts_sql, ins, 8, (long long)ins[0].n, err);
    if (!rc && upd[0].n)
        rc = pg_write_as(u, "changed posts", pg_update_posts_sql, upd, 9, (long long)upd[0].n,
                         true, err);
    pg_arrays_release(ins, 8);
    pg_arrays_release(upd, 9);
    return rc;
}

static enum pw_err pg_write_inbox(struct pg_uow *u, struct pw_errbuf *err)
{
    struct pg_array c[5] = {{0}};
    pg_inbox_arrays(c);
    for (size_t i = 0; i < u->nmarks; i++) {
        const struct pg_mark *m = u->marks[i];
        if (!m->written)
            continue;
        pg_array_add(&c[0], m->key.a);
        pg_array_add(&c[1], m->key.b);
        pg_array_add(&c[2], pw_err_name(m->outcome));
        pg_array_add(&c[3], m->post_id[0] ? m->post_id : NULL);
        if (m->version)
            pg_array_add_int(&c[4], m->version);
        else
            pg_array_add(&c[4], NULL);
    }
    enum pw_err rc = PW_OK;
    if (c[0].n)
        rc = pg_write(u, "inbox marks",
                      pg_insert_inbox_sql, c, 5, (long long)c[0].n, err);
    pg_arrays_release(c, 5);
    return rc;
}

static enum pw_err pg_write_events(struct pg_uow *u, struct pw_errbuf *err)
{
    struct pg_array c[PG_OB_EVENT_LAST + 1] = {{0}};
    pg_outbox_arrays(c, PG_OB_EVENT_LAST + 1);
    for (size_t i = 0; i < u->nevents; i++)
        pg_outbox_bind_event(c, u->events[i].topic, &u->events[i].ev);
    enum pw_err rc = pg_write(u, "outbox events", pg_outbox_insert_events_sql(), c,
                              PG_OB_EVENT_LAST + 1, (long long)u->nevents, err);
    pg_arrays_release(c, PG_OB_EVENT_LAST + 1);
    return rc;
}

/* Dead letters [from, to) in one statement: TOPIC, then DL_CODE..DL_HEADERS. */
static enum pw_err pg_write_dead_rows(struct pg_uow *u, size_t from, size_t to,
                                      struct pw_errbuf *err)
{
    struct pg_array c[PG_OB__COUNT] = {{0}};
    pg_outbox_arrays(c, PG_OB__COUNT);
    enum pw_err rc = PW_OK;
    for (size_t i = from; i < to && !rc; i++)
        if (pg_outbox_bind_dead(c, u->dead[i].topic, &u->dead[i].dl))
            rc = pw_err_set(err, PW_E_NOMEM, "out of memory writing dead letters");
    struct pg_array p[PG_OB__COUNT - PG_OB_DEAD_FIRST + 1];
    p[0] = c[PG_OB_TOPIC];
    for (int i = PG_OB_DEAD_FIRST; i < PG_OB__COUNT; i++)
        p[1 + i - PG_OB_DEAD_FIRST] = c[i];
    int np = (int)(sizeof p / sizeof p[0]);
    if (!rc)
        rc = pg_write(u, "outbox dead letters", pg_outbox_insert_dead_sql(), p, np,
                      (long long)(to - from), err);
    pg_arrays_release(p, np);
    return rc;
}

/*
 * Dead letters carry someone else's bytes, up to the largest message the
 * consumer takes, as hex text (twice their size): a statement takes rows
 * up to a round's worth of payload, so that no batch of large ones comes
 * near PostgreSQL's 1 GB limit on a statement's parameters.
 */
static enum pw_err pg_write_dead(struct pg_uow *u, struct pw_errbuf *err)
{
    enum pw_err rc = PW_OK;
    size_t from = 0, bytes = 0;
    for (size_t i = 0; i < u->ndead && !rc; i++) {
        size_t size = pw_out_bytes(&u->dead[i]);
        if (i > from && bytes + size > PW_OUT_ROUND_BYTES) {
            rc = pg_write_dead_rows(u, from, i, err);
            from = i;
            bytes = 0;
        }
        bytes += size;
    }
    if (!rc)
        rc = pg_write_dead_rows(u, from, u->ndead, err);
    return rc;
}

static enum pw_err pg_write_offsets(struct pg_uow *u, struct pw_errbuf *err)
{
    struct pg_array c[4] = {{0}};
    for (size_t i = 0; i < u->noffsets; i++) {
        pg_array_add(&c[0], u->offsets[i].group);
        pg_array_add(&c[1], u->offsets[i].topic);
        pg_array_add_int(&c[2], u->offsets[i].partition);
        pg_array_add_int(&c[3], u->offsets[i].next);
    }
    enum pw_err rc = pg_write(u, "offsets", pg_upsert_offsets_sql, c, 4, -1, err);
    pg_arrays_release(c, 4);
    return rc;
}

/*
 * The writes whose row counts tell a lost race (posts, inbox marks) wait
 * for their answers; the rest cannot come back short (inserts with no ON
 * CONFLICT, an upsert) and, when send, go out in one pipeline with the
 * COMMIT, not waited for: pg_uow_settle reads them.
 */
enum pw_err pg_uow_write(struct pg_uow *u, bool send, struct pw_errbuf *err)
{
    enum pw_err rc = pg_write_posts(u, err);
    if (!rc)
        rc = pg_write_inbox(u, err);
    u->sending = send;
    if (!rc && u->nevents)
        rc = pg_write_events(u, err);
    if (!rc && u->ndead)
        rc = pg_write_dead(u, err);
    if (!rc && u->noffsets)
        rc = pg_write_offsets(u, err);
    /*
     * Wakes the relay of every worker listening, and the readers waiting on
     * a command (ports/query.h); delivered only if this commits.
     */
    const char *notify = u->nevents || u->ndead ? "NOTIFY pw_outbox"
                         : u->held              ? "NOTIFY pw_held" /* only the readers */
                                                : NULL;
    if (!rc && notify)
        rc = pg_write_as(u, "notify", notify, NULL, 0, -1, false, err);
    /* Relaxed: where the WAL ends after the commit, read with it (pg.h). */
    u->sent_gen = !rc && send && u->conn.store->relaxed ? pg_relaxed_sent(u->conn.store) : 0;
    if (!rc && send)
        rc = pg_pipe_send(&u->conn, "commit", "COMMIT", 0, &(struct pg_params){0}, err);
    if (!rc && u->sent_gen)
        rc = pg_pipe_send(&u->conn, "read the WAL's end", PG_WAL_END_SQL, 0,
                          &(struct pg_params){0}, err);
    if (!rc && send)
        rc = pg_pipe_sync(&u->conn, err);
    u->sending = false;
    u->sent_rows = !rc && send && (u->nevents || u->ndead);
    return rc;
}

enum pw_err pg_uow_settle(void *self, struct pw_errbuf *err)
{
    struct pg_uow *u = self;
    if (!pg_pipe_open(&u->conn))
        return PW_OK;
    struct pw_errbuf why;
    PGresult *end = NULL;
    uint64_t gen = u->sent_gen;
    u->sent_gen = 0;
    if (!pg_pipe_settle(&u->conn, "COMMIT", gen ? &end : NULL, &why)) {
        if (end)
            pg_relaxed_committed(u->conn.store, gen, pg_lsn(PQgetvalue(end, 0, 0)));
        PQclear(end);
        if (u->sent_rows)
            atomic_store(&u->conn.store->dirty, 1); /* committed: the relay has rows */
        return PW_OK;
    }
    /* A store that refuses one of these writes refuses it again: found the usual way next time. */
    u->wait_until_ms = pg_monotonic_ms() + PG_WAIT_AFTER_LOSS_MS;
    u->wait_for_one = true;
    return pw_err_set(err, PW_E_LOST_COMMITS,
                      "a batch's commit, sent without waiting, did not complete (%s): reading "
                      "its partitions again from the offsets stored with the data",
                      why.msg);
}

/*
 * send: commit_send (ports/uow.h), relaxed or not, unless after a loss:
 * then commits wait, for a minute and until a batch that could have been
 * sent has committed waiting. The window is this process's: in a group, a
 * refused write can cost each worker one loss before the one that holds
 * its partition waits (docs/choices.md).
 */
enum pw_err pg_uow_end(struct pg_uow *u, bool send, struct pw_errbuf *err)
{
    enum pw_err rc = pg_uow_need_open(u, err);
    if (rc)
        return rc;
    bool rows = u->nevents || u->ndead, whole = send;
    send = send && !u->wait_for_one &&
           pg_monotonic_ms() >= u->wait_until_ms;
    rc = pg_uow_write(u, send, err);
    PGresult *res = NULL;
    if (send) { /* on its way, unless it failed */
        if (rc && pg_pipe_open(&u->conn))
            pg_disconnect(&u->conn); /* half a pipeline: the session's end rolls it back */
        else if (rc && u->conn.pg)
            pg_query(&u->conn, "rollback", "ROLLBACK", 0, NULL, NULL, NULL);
        pg_uow_drop(u);
        return rc;
    }
    if (!rc && u->conn.store->relaxed) {
        /* Where the WAL ends after the commit: the relay waits for its flush (pg.h). */
        uint64_t gen = pg_relaxed_sent(u->conn.store);
        rc = pg_query(&u->conn, "commit", "COMMIT; " PG_WAL_END_SQL, -1,
                      NULL, &res, err);
        if (!rc)
            pg_relaxed_committed(u->conn.store, gen, pg_lsn(PQgetvalue(res, 0, 0)));
        PQclear(res);
    } else if (!rc) {
        rc = pg_query(&u->conn, "commit", "COMMIT", 0, NULL, NULL, err);
    }
    if (rc && u->conn.pg)
        pg_query(&u->conn, "rollback", "ROLLBACK", 0, NULL, NULL, NULL);
    if (!rc && rows)
        atomic_store(&u->conn.store->dirty, 1); /* wakes this process's relay at once */
    if (!rc && whole)
        u->wait_for_one = false;
    pg_uow_drop(u);
    return rc;
}
