/*
 * The read side on PostgreSQL (ports/query.h): a small pool of connections
 * that the HTTP listener's threads share, and a listener connection that
 * turns the workers' commits into wake-ups for readers waiting on a
 * command.
 *
 * Every commit that a reader could be waiting for sends a NOTIFY in its
 * transaction (write_pg.c): pw_outbox with an event or a dead letter (the
 * relays' channel too), pw_held with only a held command; the listener
 * thread counts them. A read replica cannot
 * LISTEN (a standby refuses it), so there the count simply moves every
 * PG_QUERY_POLL_MS and a waiting reader asks again that often.
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/pg/lease_pg.h"
#include "adapters/pg/query_pg.h"
#include "adapters/pg/uow_pg.h"

#define PG_QUERY_POLL_MS 250

struct pg_query {
    struct pw_pg_store *store;
    pthread_mutex_t lock; /* busy[], and the count below */
    pthread_cond_t freed;
    struct pg_conn conns[PW_PG_QUERY_CONNS];
    bool busy[PW_PG_QUERY_CONNS];
    pthread_cond_t changed;
    uint64_t changes; /* commits seen (or polls, on a replica), from 1 */
    bool stopping;
    bool listening; /* the listener thread runs */
    pthread_t listener;
    _Atomic int64_t held_until; /* monotonic ms: until then, reads fail at once (pg_q_begin) */
};

/*
 * A free connection of the pool, waited for at most PG_Q_TAKE_MS: with
 * every connection held by the database (its statements bounded), a read
 * that queued behind them still answers, a 503, inside the listener's 5 s
 * bound on a request. NULL, with err, once that passes.
 */
#define PG_Q_TAKE_MS 1500

static struct pg_conn *pg_q_take(struct pg_query *q, struct pw_errbuf *err)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += PG_Q_TAKE_MS / 1000;
    until.tv_nsec += PG_Q_TAKE_MS % 1000 * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&q->lock);
    for (;;) {
        for (size_t i = 0; i < PW_PG_QUERY_CONNS; i++)
            if (!q->busy[i]) {
                q->busy[i] = true;
                pthread_mutex_unlock(&q->lock);
                return &q->conns[i];
            }
        if (pthread_cond_timedwait(&q->freed, &q->lock, &until) != 0) {
            pthread_mutex_unlock(&q->lock);
            pw_err_set(err, PW_E_TRANSIENT,
                       "every connection of the read side is busy with the database");
            return NULL;
        }
    }
}

static void pg_q_give(struct pg_query *q, struct pg_conn *c)
{
    pthread_mutex_lock(&q->lock);
    q->busy[c - q->conns] = false;
    pthread_cond_signal(&q->freed);
    pthread_mutex_unlock(&q->lock);
}

#define PG_Q_STR(x) #x
#define PG_Q_XSTR(x) PG_Q_STR(x)

/* Connects c if it is not, its statements bounded (PW_PG_QUERY_TIMEOUT_MS). */
static enum pw_err pg_q_connect(struct pg_conn *c, struct pw_errbuf *err)
{
    bool fresh = !c->pg || PQstatus(c->pg) != CONNECTION_OK;
    enum pw_err rc = pg_connect(c, err);
    if (!rc && fresh &&
        (rc = pg_query(c, "bound the read side's statements",
                       "SET statement_timeout = " PG_Q_XSTR(PW_PG_QUERY_TIMEOUT_MS), -1, NULL,
                       NULL, err)))
        pg_disconnect(c); /* so that the next read connects, and sets it, again */
    return rc;
}

/*
 * A read's connection, taken and connected; NULL, with err, if there is
 * none. A database that held a read past its bound, or held every
 * connection past PG_Q_TAKE_MS, gets no read for PG_Q_HELD_MS after
 * (pg_q_end): a listener thread has several requests in turn, and each
 * asking again would keep the last of them past the listener's bound.
 */
#define PG_Q_HELD_MS 1000

static struct pg_conn *pg_q_begin(struct pg_query *q, struct pw_errbuf *err)
{
    if (pg_monotonic_ms() < atomic_load(&q->held_until)) {
        pw_err_set(err, PW_E_TRANSIENT,
                   "the database held a read past %d ms a moment ago: try again shortly",
                   PW_PG_QUERY_TIMEOUT_MS);
        return NULL;
    }
    struct pg_conn *c = pg_q_take(q, err);
    if (!c) {
        atomic_store(&q->held_until, pg_monotonic_ms() + PG_Q_HELD_MS);
        return NULL;
    }
    if (pg_q_connect(c, err)) {
        pg_q_give(q, c);
        return NULL;
    }
    return c;
}

static void pg_q_end(struct pg_query *q, struct pg_conn *c, enum pw_err rc)
{
    if (rc == PW_E_INTERRUPTED) /* 57014: statement_timeout */
        atomic_store(&q->held_until, pg_monotonic_ms() + PG_Q_HELD_MS);
    pg_q_give(q, c);
}

/* pg_query (pg_query_binary if binary) on a connection of the pool, connected first if need be. */
static enum pw_err pg_q_run_as(struct pg_query *q, const char *what, const char *sql, int n,
                               const char *const *vals, bool binary, PGresult **res,
                               struct pw_errbuf *err)
{
    struct pg_conn *c = pg_q_begin(q, err);
    if (!c)
        return err->code;
    enum pw_err rc = binary ? pg_query_binary(c, what, sql, n, vals, res, err)
                            : pg_query(c, what, sql, n, vals, res, err);
    pg_q_end(q, c, rc);
    return rc;
}

static enum pw_err pg_q_run(struct pg_query *q, const char *what, const char *sql, int n,
                            const char *const *vals, PGresult **res, struct pw_errbuf *err)
{
    return pg_q_run_as(q, what, sql, n, vals, false, res, err);
}

/* The posts' statements (PG_Q_POST_COLUMNS), in binary. */
static enum pw_err pg_q_posts(struct pg_query *q, const char *what, const char *sql, int n,
                              const char *const *vals, PGresult **res, struct pw_errbuf *err)
{
    return pg_q_run_as(q, what, sql, n, vals, true, res, err);
}

/* Read in binary (pg_query_binary): pg_q_post decodes them. */
#define PG_Q_POST_COLUMNS                                                                      \
    "post_id, author_name, title, body, version, created_at, updated_at, deleted_at"

/* Fills post from row r of res (PG_Q_POST_COLUMNS); PW_E_NOMEM leaves nothing to release. */
static enum pw_err pg_q_post(struct pw_post *post, const PGresult *res, int r,
                             struct pw_errbuf *err)
{
    memset(post, 0, sizeof *post);
    snprintf(post->post_id, sizeof post->post_id, "%s", PQgetvalue(res, r, 0));
    post->author_name = strdup(PQgetvalue(res, r, 1));
    post->title = strdup(PQgetvalue(res, r, 2));
    post->body = strdup(PQgetvalue(res, r, 3));
    post->version = pg_bin_int(res, r, 4);
    post->created_at = pg_bin_time(res, r, 5);
    post->updated_at = pg_bin_time(res, r, 6);
    post->deleted_at = pg_bin_time(res, r, 7);
    if (post->author_name && post->title && post->body)
        return PW_OK;
    pw_post_release(post);
    return pw_err_set(err, PW_E_NOMEM, "out of memory reading a post");
}

static enum pw_err pg_q_post_get(void *self, const char *post_id, struct pw_post *out,
                                 bool *found, struct pw_errbuf *err)
{
    struct pg_query *q = self;
    memset(out, 0, sizeof *out);
    *found = false;
    PGresult *res = NULL;
    const char *vals[] = {post_id};
    enum pw_err rc = pg_q_posts(q, "read a post",
                              "SELECT " PG_Q_POST_COLUMNS " FROM posts WHERE post_id = $1", 1,
                              vals, &res, err);
    if (!rc && PQntuples(res) == 1) {
        rc = pg_q_post(out, res, 0, err);
        *found = !rc;
    }
    PQclear(res);
    return rc;
}

static enum pw_err pg_q_posts_get(void *self, const char *const *ids, size_t n,
                                  struct pw_post *out, bool *found, struct pw_errbuf *err)
{
    struct pg_query *q = self;
    struct pg_array arr = {0};
    for (size_t i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        found[i] = false;
        pg_array_add(&arr, ids[i]);
    }
    const char *vals[] = {pg_array_done(&arr)};
    PGresult *res = NULL;
    enum pw_err rc = vals[0] ? pg_q_posts(q, "read posts",
                                        "SELECT " PG_Q_POST_COLUMNS " FROM posts"
                                        " WHERE post_id = ANY($1::text[])",
                                        1, vals, &res, err)
                             : pw_err_set(err, PW_E_NOMEM, "out of memory reading posts");
    pg_array_release(&arr);
    for (int r = 0; !rc && r < PQntuples(res); r++) {
        const char *id = PQgetvalue(res, r, 0);
        for (size_t i = 0; i < n && !rc; i++)
            if (!found[i] && strcmp(ids[i], id) == 0) {
                rc = pg_q_post(&out[i], res, r, err);
                found[i] = !rc;
            }
    }
    PQclear(res);
    if (rc)
        for (size_t i = 0; i < n; i++)
            if (found[i])
                pw_post_release(&out[i]);
    return rc;
}

/*
 * The page statements, one per shape so that each has a plan of its own:
 * by author or not, from a cursor or from the start. $1 is the deleted
 * filter (0 exclude, 1 include, 2 only), $2 the limit.
 */
#define PG_Q_DELETED " ($1::int = 1 OR (deleted_at IS NOT NULL) = ($1::int = 2))"
#define PG_Q_AFTER(t, id)                                                                      \
    " (created_at, post_id COLLATE \"C\") > ('epoch'::timestamptz + " t                          \
    "::int8 * interval '1 microsecond', " id "::text COLLATE \"C\")"
#define PG_Q_PAGE " ORDER BY created_at, post_id COLLATE \"C\" LIMIT $2"
const char pg_posts_by_author_sql[] =
    "SELECT " PG_Q_POST_COLUMNS " FROM posts WHERE author_name = $3 AND" PG_Q_AFTER("$4", "$5")
    " AND" PG_Q_DELETED PG_Q_PAGE;
static const char pg_posts_by_author_first_sql[] =
    "SELECT " PG_Q_POST_COLUMNS " FROM posts WHERE author_name = $3 AND" PG_Q_DELETED PG_Q_PAGE;
const char pg_posts_all_sql[] =
    "SELECT " PG_Q_POST_COLUMNS " FROM posts WHERE" PG_Q_AFTER("$3", "$4")
    " AND" PG_Q_DELETED PG_Q_PAGE;
static const char pg_posts_all_first_sql[] =
    "SELECT " PG_Q_POST_COLUMNS " FROM posts WHERE" PG_Q_DELETED PG_Q_PAGE;

static enum pw_err pg_q_posts_list(void *self, const struct pw_posts_filter *f,
                                   struct pw_post *out, size_t max, size_t *n, bool *more,
                                   struct pw_errbuf *err)
{
    struct pg_query *q = self;
    *n = 0;
    *more = false;
    if (max < 1 || max > PW_QUERY_PAGE_MAX)
        return pw_err_set(err, PW_E_FATAL, "a page holds 1 to %d posts", PW_QUERY_PAGE_MAX);
    char deleted[4], limit[24], after[24];
    snprintf(deleted, sizeof deleted, "%d", (int)f->deleted);
    snprintf(limit, sizeof limit, "%zu", max + 1); /* one more says whether there is more */
    snprintf(after, sizeof after, "%lld", (long long)f->after_created);
    const char *vals[5] = {deleted, limit};
    int nv = 2;
    if (f->author)
        vals[nv++] = f->author;
    if (f->after) {
        vals[nv++] = after;
        vals[nv++] = f->after_id;
    }
    const char *sql = f->author ? (f->after ? pg_posts_by_author_sql : pg_posts_by_author_first_sql)
                                : (f->after ? pg_posts_all_sql : pg_posts_all_first_sql);
    PGresult *res = NULL;
    enum pw_err rc = pg_q_posts(q, "read a page of posts", sql, nv, vals, &res, err);
    size_t rows = rc ? 0 : (size_t)PQntuples(res);
    for (size_t r = 0; r < rows && r < max && !rc; r++) {
        rc = pg_q_post(&out[r], res, (int)r, err);
        *n += !rc;
    }
    PQclear(res);
    if (rc) {
        for (size_t i = 0; i < *n; i++)
            pw_post_release(&out[i]);
        *n = 0;
        return rc;
    }
    *more = rows > max;
    return PW_OK;
}

/*
 * What is known of (source, id), most final first: its inbox mark, the
 * parked post it failed on, the post it is held behind.
 */
static const char pg_command_sql[] =
    "SELECT 0, outcome, post_id, version FROM inbox WHERE source = $1 AND id = $2"
    " UNION ALL SELECT 1, code, post_id, NULL FROM parked_posts"
    " WHERE failed_source = $1 AND failed_id = $2 AND NOT draining"
    " UNION ALL SELECT 2, NULL, post_id, NULL FROM held_commands WHERE source = $1 AND id = $2"
    " ORDER BY 1 LIMIT 1";

static enum pw_err pg_q_command_get(void *self, const char *source, const char *id,
                                    struct pw_command_status *st, struct pw_errbuf *err)
{
    struct pg_query *q = self;
    memset(st, 0, sizeof *st);
    PGresult *res = NULL;
    const char *vals[] = {source, id};
    enum pw_err rc = pg_q_run(q, "read what became of a command", pg_command_sql, 2, vals, &res,
                              err);
    if (rc || PQntuples(res) == 0) {
        PQclear(res);
        return rc;
    }
    int where = (int)pg_int(res, 0, 0);
    snprintf(st->post_id, sizeof st->post_id, "%s", PQgetvalue(res, 0, 2));
    if (where == 2) {
        st->outcome = PW_Q_HELD;
    } else {
        const char *code = PQgetvalue(res, 0, 1);
        pw_command_status_mark(st, strcmp(code, "ok") == 0 ? PW_OK : pg_err_of(code));
        st->version = PQgetisnull(res, 0, 3) ? 0 : pg_int(res, 0, 3);
    }
    PQclear(res);
    return PW_OK;
}

static enum pw_err pg_q_parked_list(void *self, const char *after, struct pw_parked *out,
                                    size_t max, size_t *n, struct pw_errbuf *err)
{
    struct pg_query *q = self;
    struct pg_conn *c = pg_q_begin(q, err);
    if (!c)
        return err->code;
    enum pw_err rc = pg_parked_list(c, after, out, max, n, err);
    pg_q_end(q, c, rc);
    return rc;
}

static void pg_q_bump(struct pg_query *q)
{
    pthread_mutex_lock(&q->lock);
    q->changes++;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
}

static bool pg_q_stopping(struct pg_query *q)
{
    pthread_mutex_lock(&q->lock);
    bool stop = q->stopping;
    pthread_mutex_unlock(&q->lock);
    return stop;
}

/*
 * Listens for commits and counts them. Until it listens (the database is
 * down, or a standby that refuses LISTEN), it counts a tick every
 * PG_QUERY_POLL_MS instead, so that waiting readers ask again.
 */
static void *pg_q_listen(void *arg)
{
    struct pg_query *q = arg;
    struct pg_conn c = {.store = q->store};
    bool listening = false;
    int64_t retry_ms = 0; /* a standby refused LISTEN: asked again from then (a promotion) */
    while (!pg_q_stopping(q)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        if ((!listening || !c.pg || PQstatus(c.pg) != CONNECTION_OK) && now >= retry_ms) {
            listening = false;
            struct pw_errbuf err;
            bool up = !pg_connect(&c, &err);
            listening = up && !pg_query(&c, "listen for commits",
                                        "LISTEN pw_outbox; LISTEN pw_held", -1, NULL, NULL, &err);
            /* Connected and refused: a standby. Not every tick: each refusal is a log line there. */
            retry_ms = up && !listening ? now + 30000 : 0;
        }
        if (!listening) {
            nanosleep(&(struct timespec){0, PG_QUERY_POLL_MS * 1000000L}, NULL);
            pg_q_bump(q);
            continue;
        }
        struct pollfd pfd = {.fd = PQsocket(c.pg), .events = POLLIN};
        if (poll(&pfd, 1, PG_QUERY_POLL_MS) > 0 && !PQconsumeInput(c.pg)) {
            pg_disconnect(&c);
            listening = false;
            pg_q_bump(q); /* commits may have been missed: readers ask again */
            continue;
        }
        bool any = false;
        PGnotify *n;
        while ((n = PQnotifies(c.pg))) {
            any = true;
            PQfreemem(n);
        }
        if (any)
            pg_q_bump(q);
    }
    pg_disconnect(&c);
    return NULL;
}

static void pg_q_changes_wait(void *self, uint64_t *seen, int timeout_ms)
{
    struct pg_query *q = self;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&q->lock);
    while (*seen && q->changes == *seen && !q->stopping &&
           pthread_cond_timedwait(&q->changed, &q->lock, &until) == 0) {
    }
    *seen = q->changes;
    pthread_mutex_unlock(&q->lock);
}

static void pg_q_close(void *self)
{
    struct pg_query *q = self;
    pthread_mutex_lock(&q->lock);
    q->stopping = true;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
    if (q->listening)
        pthread_join(q->listener, NULL);
    for (size_t i = 0; i < PW_PG_QUERY_CONNS; i++)
        pg_disconnect(&q->conns[i]);
    pthread_cond_destroy(&q->changed);
    pthread_cond_destroy(&q->freed);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

static const struct pw_query_ops pg_query_ops = {
    .name = "pg",
    .batches = true,
    .post_get = pg_q_post_get,
    .posts_get = pg_q_posts_get,
    .posts_list = pg_q_posts_list,
    .command_get = pg_q_command_get,
    .parked_list = pg_q_parked_list,
    .changes_wait = pg_q_changes_wait,
    .close = pg_q_close,
};

enum pw_err pw_pg_query_open(struct pw_query *port, struct pw_pg_store *store)
{
    struct pg_query *q = calloc(1, sizeof *q);
    if (!q)
        return PW_E_NOMEM;
    q->store = store;
    q->changes = 1;
    for (size_t i = 0; i < PW_PG_QUERY_CONNS; i++)
        q->conns[i].store = store;
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* a clock step neither cuts nor stretches a wait */
    pthread_cond_init(&q->freed, &attr);
    pthread_cond_init(&q->changed, &attr);
    pthread_condattr_destroy(&attr);
    q->listening = pthread_create(&q->listener, NULL, pg_q_listen, q) == 0;
    if (!q->listening) {
        pg_q_close(q);
        return PW_E_NOMEM;
    }
    *port = (struct pw_query){&pg_query_ops, q};
    return PW_OK;
}
