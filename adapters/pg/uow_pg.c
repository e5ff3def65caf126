/*
 * The PostgreSQL unit of work: one transaction on a connection of its own.
 *
 * Speed comes from few round trips, not from weaker durability. Reads are
 * served from a per-transaction cache that prefetch fills for a whole batch
 * in two queries (posts, inbox marks). Writes are buffered and sent at
 * commit as one multi-row statement per table (unnest of array parameters).
 * So a batch costs a handful of round trips whatever its size, and the
 * commit is one fsync.
 *
 * Buffered writes are checked optimistically: a post is updated only if it
 * is still at the version this transaction read, and inserts of posts and
 * inbox marks must all land. Anything less means another transaction got
 * there first: a serialization failure (transient), and the batch is rerun.
 */
#define _XOPEN_SOURCE 700 /* tsearch() */
#include "adapters/pg/conn.h"

#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A post as this transaction sees it: read (found or not) and maybe written. */
struct pg_post_slot {
    struct pw_post post; /* post_id always set; the rest only if found */
    bool found;
    bool written;
    int64_t base; /* the version in the database when first read, 0 if none */
};

/* An inbox mark as this transaction sees it. */
struct pg_mark {
    bool found;
    bool written;
    enum pw_err outcome;
    const char *source, *id; /* point into buf */
    char buf[];
};

struct pg_uow {
    struct pg_conn conn;
    bool open;
    void *posts_index; /* tsearch tree over posts[] */
    struct pg_post_slot **posts;
    size_t nposts, cap_posts;
    void *marks_index;
    struct pg_mark **marks;
    size_t nmarks, cap_marks;
    struct pw_event *events;
    size_t nevents, cap_events;
    struct pg_offset {
        char topic[256];
        int32_t partition;
        int64_t next;
    } offsets[64];
    size_t noffsets;
};

static int pg_post_cmp(const void *a, const void *b)
{
    return strcmp(((const struct pg_post_slot *)a)->post.post_id,
                  ((const struct pg_post_slot *)b)->post.post_id);
}

static int pg_mark_cmp(const void *a, const void *b)
{
    const struct pg_mark *x = a, *y = b;
    int c = strcmp(x->source, y->source);
    return c ? c : strcmp(x->id, y->id);
}

static int pg_grow(void **v, size_t *cap, size_t need, size_t size)
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

/* Forgets everything of the transaction: caches, buffered writes. */
static void pg_uow_drop(struct pg_uow *u)
{
    for (size_t i = 0; i < u->nposts; i++) {
        tdelete(u->posts[i], &u->posts_index, pg_post_cmp);
        pw_post_release(&u->posts[i]->post);
        free(u->posts[i]);
    }
    for (size_t i = 0; i < u->nmarks; i++) {
        tdelete(u->marks[i], &u->marks_index, pg_mark_cmp);
        free(u->marks[i]);
    }
    for (size_t i = 0; i < u->nevents; i++)
        pw_event_release(&u->events[i]);
    u->nposts = u->nmarks = u->nevents = u->noffsets = 0;
    u->open = false;
}

static struct pg_post_slot *pg_post_find(struct pg_uow *u, const char *post_id)
{
    struct pg_post_slot key;
    snprintf(key.post.post_id, sizeof key.post.post_id, "%s", post_id);
    void **hit = tfind(&key, &u->posts_index, pg_post_cmp);
    return hit ? *hit : NULL;
}

/* A new slot for post_id (not found, nothing written), indexed. */
static struct pg_post_slot *pg_post_slot_new(struct pg_uow *u, const char *post_id)
{
    struct pg_post_slot *s = calloc(1, sizeof *s);
    if (!s || pg_grow((void **)&u->posts, &u->cap_posts, u->nposts + 1, sizeof *u->posts)) {
        free(s);
        return NULL;
    }
    snprintf(s->post.post_id, sizeof s->post.post_id, "%s", post_id);
    if (!tsearch(s, &u->posts_index, pg_post_cmp)) {
        free(s);
        return NULL;
    }
    u->posts[u->nposts++] = s;
    return s;
}

static struct pg_mark *pg_mark_find(struct pg_uow *u, const char *source, const char *id)
{
    struct pg_mark key = {.source = source, .id = id};
    void **hit = tfind(&key, &u->marks_index, pg_mark_cmp);
    return hit ? *hit : NULL;
}

static struct pg_mark *pg_mark_new(struct pg_uow *u, const char *source, const char *id)
{
    size_t ns = strlen(source) + 1, ni = strlen(id) + 1;
    struct pg_mark *m = calloc(1, sizeof *m + ns + ni);
    if (!m || pg_grow((void **)&u->marks, &u->cap_marks, u->nmarks + 1, sizeof *u->marks)) {
        free(m);
        return NULL;
    }
    memcpy(m->buf, source, ns);
    memcpy(m->buf + ns, id, ni);
    m->source = m->buf;
    m->id = m->buf + ns;
    if (!tsearch(m, &u->marks_index, pg_mark_cmp)) {
        free(m);
        return NULL;
    }
    u->marks[u->nmarks++] = m;
    return m;
}

static enum pw_err pg_outcome_of(const char *name)
{
    for (int code = 0; code < PW_E__COUNT; code++)
        if (strcmp(pw_err_name((enum pw_err)code), name) == 0)
            return (enum pw_err)code;
    return PW_E_FATAL;
}

#define PG_POST_COLUMNS                                                                        \
    "post_id, author_name, title, body, version, " PG_US("created_at") ", " PG_US(           \
        "updated_at") ", " PG_US("deleted_at")

/* Fills a slot from row of res (columns as PG_POST_COLUMNS). */
static enum pw_err pg_post_fill(struct pg_post_slot *s, const PGresult *res, int row,
                                struct pw_errbuf *err)
{
    struct pw_post *p = &s->post;
    p->author_name = strdup(PQgetvalue(res, row, 1));
    p->title = strdup(PQgetvalue(res, row, 2));
    p->body = strdup(PQgetvalue(res, row, 3));
    if (!p->author_name || !p->title || !p->body)
        return pw_err_set(err, PW_E_NOMEM, "out of memory reading post '%s'", p->post_id);
    p->version = pg_int(res, row, 4);
    p->created_at = pg_time(res, row, 5);
    p->updated_at = pg_time(res, row, 6);
    p->deleted_at = pg_time(res, row, 7);
    s->found = true;
    s->base = p->version;
    return PW_OK;
}

static enum pw_err pg_uow_need_open(struct pg_uow *u, struct pw_errbuf *err)
{
    if (!u->open)
        return pw_err_set(err, PW_E_FATAL, "no transaction is open: call begin first");
    return PW_OK;
}

/* The slot of post_id, read from the database if this transaction has not seen it. */
static enum pw_err pg_post_visible(struct pg_uow *u, const char *post_id,
                                   struct pg_post_slot **out, struct pw_errbuf *err)
{
    enum pw_err rc = pg_uow_need_open(u, err);
    if (rc)
        return rc;
    struct pg_post_slot *s = pg_post_find(u, post_id);
    if (!s) {
        PGresult *res = NULL;
        const char *vals[] = {post_id};
        rc = pg_query(&u->conn, "read a post",
                      "SELECT " PG_POST_COLUMNS " FROM posts WHERE post_id = $1", 1, vals, &res,
                      err);
        if (rc)
            return rc;
        s = pg_post_slot_new(u, post_id);
        if (!s)
            rc = pw_err_set(err, PW_E_NOMEM, "out of memory reading post '%s'", post_id);
        else if (PQntuples(res) == 1)
            rc = pg_post_fill(s, res, 0, err);
        PQclear(res);
        if (rc)
            return rc;
    }
    *out = s;
    return PW_OK;
}

static enum pw_err pg_repo_get(void *self, const char *post_id, struct pw_post *post,
                               struct pw_errbuf *err)
{
    struct pg_post_slot *s;
    enum pw_err rc = pg_post_visible(self, post_id, &s, err);
    if (rc)
        return rc;
    if (!s->found)
        return pw_err_set(err, PW_E_NOT_FOUND, "post '%s' does not exist", post_id);
    if (pw_post_copy(post, &s->post))
        return pw_err_set(err, PW_E_NOMEM, "out of memory reading post '%s'", post_id);
    return PW_OK;
}

/* Buffers post as the slot's new state. */
static enum pw_err pg_stage(struct pg_post_slot *s, const struct pw_post *post,
                            struct pw_errbuf *err)
{
    struct pw_post copy;
    if (pw_post_copy(&copy, post))
        return pw_err_set(err, PW_E_NOMEM, "out of memory staging post '%s'", post->post_id);
    pw_post_release(&s->post);
    s->post = copy;
    s->found = s->written = true;
    return PW_OK;
}

static enum pw_err pg_repo_add(void *self, const struct pw_post *post, struct pw_errbuf *err)
{
    struct pg_post_slot *s;
    enum pw_err rc = pg_post_visible(self, post->post_id, &s, err);
    if (rc)
        return rc;
    if (s->found)
        return pw_err_set(err, PW_E_ALREADY_EXISTS, "post '%s' already exists", post->post_id);
    return pg_stage(s, post, err);
}

static enum pw_err pg_repo_save(void *self, const struct pw_post *post, struct pw_errbuf *err)
{
    struct pg_post_slot *s;
    enum pw_err rc = pg_post_visible(self, post->post_id, &s, err);
    if (rc)
        return rc;
    if (!s->found)
        return pw_err_set(err, PW_E_NOT_FOUND, "post '%s' does not exist", post->post_id);
    if (s->post.version != post->version - 1)
        return pw_err_set(err, PW_E_VERSION_CONFLICT, "post '%s' is at version %lld, not %lld",
                          post->post_id, (long long)s->post.version,
                          (long long)post->version - 1);
    return pg_stage(s, post, err);
}

static const struct pw_repo_ops pg_repo_ops = {
    .name = "pg",
    .get = pg_repo_get,
    .add = pg_repo_add,
    .save = pg_repo_save,
};

static enum pw_err pg_uow_begin(void *self, struct pw_errbuf *err)
{
    struct pg_uow *u = self;
    if (u->open)
        return pw_err_set(err, PW_E_FATAL, "a transaction is already open");
    enum pw_err rc = pg_connect(&u->conn, err);
    if (!rc)
        rc = pg_query(&u->conn, "begin", "BEGIN", 0, NULL, NULL, err);
    if (!rc)
        u->open = true;
    return rc;
}

static struct pw_repo pg_uow_posts(void *self)
{
    return (struct pw_repo){.ops = &pg_repo_ops, .self = self};
}

static enum pw_err pg_uow_inbox_get(void *self, const char *source, const char *id, bool *found,
                                    enum pw_err *outcome, struct pw_errbuf *err)
{
    struct pg_uow *u = self;
    enum pw_err rc = pg_uow_need_open(u, err);
    if (rc)
        return rc;
    struct pg_mark *m = pg_mark_find(u, source, id);
    if (!m) {
        PGresult *res = NULL;
        const char *vals[] = {source, id};
        rc = pg_query(&u->conn, "read the inbox",
                      "SELECT outcome FROM inbox WHERE source = $1 AND id = $2", 2, vals, &res, err);
        if (rc)
            return rc;
        m = pg_mark_new(u, source, id);
        if (m && PQntuples(res) == 1) {
            m->found = true;
            m->outcome = pg_outcome_of(PQgetvalue(res, 0, 0));
        }
        PQclear(res);
        if (!m)
            return pw_err_set(err, PW_E_NOMEM, "out of memory reading the inbox");
    }
    *found = m->found;
    if (m->found)
        *outcome = m->outcome;
    return PW_OK;
}

static enum pw_err pg_uow_inbox_put(void *self, const char *source, const char *id,
                                    enum pw_err outcome, struct pw_errbuf *err)
{
    struct pg_uow *u = self;
    enum pw_err rc = pg_uow_need_open(u, err);
    if (rc)
        return rc;
    struct pg_mark *m = pg_mark_find(u, source, id);
    if (!m && !(m = pg_mark_new(u, source, id)))
        return pw_err_set(err, PW_E_NOMEM, "out of memory marking command '%s'", id);
    m->found = m->written = true;
    m->outcome = outcome;
    return PW_OK;
}

static enum pw_err pg_uow_outbox_put(void *self, const struct pw_event *ev, struct pw_errbuf *err)
{
    struct pg_uow *u = self;
    enum pw_err rc = pg_uow_need_open(u, err);
    if (rc)
        return rc;
    if (pg_grow((void **)&u->events, &u->cap_events, u->nevents + 1, sizeof *u->events) ||
        pw_event_copy(&u->events[u->nevents], ev))
        return pw_err_set(err, PW_E_NOMEM, "out of memory recording event");
    u->nevents++;
    return PW_OK;
}

static enum pw_err pg_uow_offset_put(void *self, const char *topic, int32_t partition,
                                     int64_t offset, struct pw_errbuf *err)
{
    struct pg_uow *u = self;
    enum pw_err rc = pg_uow_need_open(u, err);
    if (rc)
        return rc;
    size_t k = 0;
    while (k < u->noffsets &&
           !(u->offsets[k].partition == partition && strcmp(u->offsets[k].topic, topic) == 0))
        k++;
    if (k == sizeof u->offsets / sizeof u->offsets[0] || strlen(topic) >= sizeof u->offsets[0].topic)
        return pw_err_set(err, PW_E_FATAL, "too many partitions in one batch");
    if (k == u->noffsets) {
        snprintf(u->offsets[k].topic, sizeof u->offsets[k].topic, "%s", topic);
        u->offsets[k].partition = partition;
        u->noffsets++;
    }
    u->offsets[k].next = offset;
    return PW_OK;
}

static enum pw_err pg_uow_offset_get(void *self, const char *topic, int32_t partition,
                                     int64_t *offset, struct pw_errbuf *err)
{
    struct pg_uow *u = self;
    char part[16];
    snprintf(part, sizeof part, "%d", (int)partition);
    const char *vals[] = {topic, part};
    PGresult *res = NULL;
    enum pw_err rc = pg_connect(&u->conn, err);
    if (!rc)
        rc = pg_query(&u->conn, "read the stored offset",
                      "SELECT next_offset FROM consumer_offsets WHERE topic = $1 AND partition = $2",
                      2, vals, &res, err);
    if (rc)
        return rc;
    *offset = PQntuples(res) == 1 ? pg_int(res, 0, 0) : -1;
    PQclear(res);
    return PW_OK;
}

/* Loads, in two queries, the posts and inbox marks of cmds not seen yet. */
static enum pw_err pg_uow_prefetch(void *self, const struct pw_cmd *cmds, size_t n,
                                   struct pw_errbuf *err)
{
    struct pg_uow *u = self;
    struct pg_array ids = {0}, sources = {0}, cids = {0};
    PGresult *res = NULL;
    enum pw_err rc = pg_uow_need_open(u, err);
    for (size_t i = 0; i < n && !rc; i++) {
        const struct pw_cmd *cmd = &cmds[i];
        if (cmd->post_id && strlen(cmd->post_id) <= PW_POST_ID_MAX && !pg_post_find(u, cmd->post_id)) {
            if (!pg_post_slot_new(u, cmd->post_id))
                rc = pw_err_set(err, PW_E_NOMEM, "out of memory prefetching");
            pg_array_add(&ids, cmd->post_id);
        }
        if (!rc && !pg_mark_find(u, cmd->env.source, cmd->env.id)) {
            if (!pg_mark_new(u, cmd->env.source, cmd->env.id))
                rc = pw_err_set(err, PW_E_NOMEM, "out of memory prefetching");
            pg_array_add(&sources, cmd->env.source);
            pg_array_add(&cids, cmd->env.id);
        }
    }
    if (!rc && ids.n) {
        const char *vals[] = {pg_array_done(&ids)};
        rc = vals[0] ? pg_query(&u->conn, "prefetch posts",
                                "SELECT " PG_POST_COLUMNS " FROM posts WHERE post_id = ANY($1::text[])",
                                1, vals, &res, err)
                     : pw_err_set(err, PW_E_NOMEM, "out of memory prefetching");
        for (int r = 0; !rc && r < PQntuples(res); r++) {
            struct pg_post_slot *s = pg_post_find(u, PQgetvalue(res, r, 0));
            if (s && !s->found)
                rc = pg_post_fill(s, res, r, err);
        }
        PQclear(res);
        res = NULL;
    }
    if (!rc && sources.n) {
        const char *vals[] = {pg_array_done(&sources), pg_array_done(&cids)};
        rc = vals[0] && vals[1]
                 ? pg_query(&u->conn, "prefetch the inbox",
                            "SELECT i.source, i.id, i.outcome FROM inbox i"
                            " JOIN unnest($1::text[], $2::text[]) AS k(source, id)"
                            " ON i.source = k.source AND i.id = k.id",
                            2, vals, &res, err)
                 : pw_err_set(err, PW_E_NOMEM, "out of memory prefetching");
        for (int r = 0; !rc && r < PQntuples(res); r++) {
            struct pg_mark *m = pg_mark_find(u, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
            if (m && !m->written) {
                m->found = true;
                m->outcome = pg_outcome_of(PQgetvalue(res, r, 2));
            }
        }
        PQclear(res);
    }
    pg_array_release(&ids);
    pg_array_release(&sources);
    pg_array_release(&cids);
    return rc;
}

/* Runs a write of n rows from arrays; fewer rows than want is a lost race. */
static enum pw_err pg_write(struct pg_uow *u, const char *what, const char *sql,
                            struct pg_array *cols, int ncols, long long want,
                            struct pw_errbuf *err)
{
    const char *vals[16];
    for (int i = 0; i < ncols; i++)
        if (!(vals[i] = pg_array_done(&cols[i])))
            return pw_err_set(err, PW_E_NOMEM, "out of memory writing %s", what);
    PGresult *res = NULL;
    enum pw_err rc = pg_query(&u->conn, what, sql, ncols, vals, &res, err);
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

#define PG_POST_ARRAYS                                                                         \
    "$1::text[], $2::text[], $3::text[], $4::text[], $5::int4[], $6::timestamptz[], "         \
    "$7::timestamptz[], $8::timestamptz[]"

static enum pw_err pg_flush_posts(struct pg_uow *u, struct pw_errbuf *err)
{
    struct pg_array ins[8] = {{0}}, upd[9] = {{0}};
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
                      "INSERT INTO posts (post_id, author_name, title, body, version, created_at,"
                      " updated_at, deleted_at) SELECT * FROM unnest(" PG_POST_ARRAYS ")"
                      " ON CONFLICT (post_id) DO NOTHING",
                      ins, 8, (long long)ins[0].n, err);
    if (!rc && upd[0].n)
        rc = pg_write(u, "changed posts",
                      "UPDATE posts p SET author_name = u.author_name, title = u.title,"
                      " body = u.body, version = u.version, created_at = u.created_at,"
                      " updated_at = u.updated_at, deleted_at = u.deleted_at"
                      " FROM unnest(" PG_POST_ARRAYS ", $9::int4[]) AS u(post_id, author_name,"
                      " title, body, version, created_at, updated_at, deleted_at, base)"
                      " WHERE p.post_id = u.post_id AND p.version = u.base",
                      upd, 9, (long long)upd[0].n, err);
    for (int i = 0; i < 9; i++) {
        if (i < 8)
            pg_array_release(&ins[i]);
        pg_array_release(&upd[i]);
    }
    return rc;
}

static enum pw_err pg_flush_inbox(struct pg_uow *u, struct pw_errbuf *err)
{
    struct pg_array c[3] = {{0}};
    for (size_t i = 0; i < u->nmarks; i++) {
        const struct pg_mark *m = u->marks[i];
        if (!m->written)
            continue;
        pg_array_add(&c[0], m->source);
        pg_array_add(&c[1], m->id);
        pg_array_add(&c[2], pw_err_name(m->outcome));
    }
    enum pw_err rc = PW_OK;
    if (c[0].n)
        rc = pg_write(u, "inbox marks",
                      "INSERT INTO inbox (source, id, outcome)"
                      " SELECT * FROM unnest($1::text[], $2::text[], $3::text[])"
                      " ON CONFLICT (source, id) DO NOTHING",
                      c, 3, (long long)c[0].n, err);
    for (int i = 0; i < 3; i++)
        pg_array_release(&c[i]);
    return rc;
}

static enum pw_err pg_flush_outbox(struct pg_uow *u, struct pw_errbuf *err)
{
    if (!u->nevents)
        return PW_OK;
    struct pg_array c[15] = {{0}};
    for (size_t i = 0; i < u->nevents; i++) {
        const struct pw_event *ev = &u->events[i];
        pg_array_add(&c[0], ev->id);
        pg_array_add(&c[1], pw_event_type_name(ev->type));
        pg_array_add_int(&c[2], ev->index);
        pg_array_add_time(&c[3], ev->time);
        pg_array_add(&c[4], ev->source);
        pg_array_add(&c[5], ev->causation_id);
        pg_array_add(&c[6], ev->correlation_id);
        pg_post_columns(&c[7], &ev->post);
    }
    /* ORDER BY ordinality: seq follows the order the events were recorded in. */
    enum pw_err rc = pg_write(
        u, "outbox events",
        "INSERT INTO outbox (event_id, event_type, event_index, time, source, causation_id,"
        " correlation_id, post_id, author_name, title, body, version, created_at, updated_at,"
        " deleted_at)"
        " SELECT e.event_id, e.event_type, e.event_index, e.time, e.source, e.causation_id,"
        " e.correlation_id, e.post_id, e.author_name, e.title, e.body, e.version, e.created_at,"
        " e.updated_at, e.deleted_at"
        " FROM unnest($1::uuid[], $2::text[], $3::int4[], $4::timestamptz[], $5::text[],"
        " $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::int4[],"
        " $13::timestamptz[], $14::timestamptz[], $15::timestamptz[]) WITH ORDINALITY"
        " AS e(event_id, event_type, event_index, time, source, causation_id, correlation_id,"
        " post_id, author_name, title, body, version, created_at, updated_at, deleted_at, ord)"
        " ORDER BY e.ord",
        c, 15, (long long)u->nevents, err);
    for (int i = 0; i < 15; i++)
        pg_array_release(&c[i]);
    /* Wakes the relay of every worker listening; delivered only if this commits. */
    if (!rc)
        rc = pg_query(&u->conn, "notify the relay", "NOTIFY pw_outbox", 0, NULL, NULL, err);
    return rc;
}

static enum pw_err pg_flush_offsets(struct pg_uow *u, struct pw_errbuf *err)
{
    struct pg_array c[3] = {{0}};
    for (size_t i = 0; i < u->noffsets; i++) {
        pg_array_add(&c[0], u->offsets[i].topic);
        pg_array_add_int(&c[1], u->offsets[i].partition);
        pg_array_add_int(&c[2], u->offsets[i].next);
    }
    enum pw_err rc = PW_OK;
    if (u->noffsets)
        rc = pg_write(u, "offsets",
                      "INSERT INTO consumer_offsets (topic, partition, next_offset)"
                      " SELECT * FROM unnest($1::text[], $2::int4[], $3::int8[])"
                      " ON CONFLICT (topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset",
                      c, 3, -1, err);
    for (int i = 0; i < 3; i++)
        pg_array_release(&c[i]);
    return rc;
}

static enum pw_err pg_uow_commit(void *self, struct pw_errbuf *err)
{
    struct pg_uow *u = self;
    enum pw_err rc = pg_uow_need_open(u, err);
    if (rc)
        return rc;
    bool events = u->nevents > 0;
    if (!(rc = pg_flush_posts(u, err)) && !(rc = pg_flush_inbox(u, err)) &&
        !(rc = pg_flush_outbox(u, err)) && !(rc = pg_flush_offsets(u, err)))
        rc = pg_query(&u->conn, "commit", "COMMIT", 0, NULL, NULL, err);
    if (rc && u->conn.pg)
        pg_query(&u->conn, "rollback", "ROLLBACK", 0, NULL, NULL, NULL);
    if (!rc && events)
        atomic_store(&u->conn.store->dirty, 1); /* wakes this process's relay at once */
    pg_uow_drop(u);
    return rc;
}

static void pg_uow_rollback(void *self)
{
    struct pg_uow *u = self;
    if (u->open && u->conn.pg)
        pg_query(&u->conn, "rollback", "ROLLBACK", 0, NULL, NULL, NULL);
    pg_uow_drop(u);
}

static void pg_uow_close(void *self)
{
    struct pg_uow *u = self;
    if (!u)
        return;
    pg_uow_rollback(u);
    pg_disconnect(&u->conn);
    free(u->posts);
    free(u->marks);
    free(u->events);
    free(u);
}

static const struct pw_uow_ops pg_uow_ops = {
    .name = "pg",
    .begin = pg_uow_begin,
    .commit = pg_uow_commit,
    .rollback = pg_uow_rollback,
    .posts = pg_uow_posts,
    .inbox_get = pg_uow_inbox_get,
    .inbox_put = pg_uow_inbox_put,
    .outbox_put = pg_uow_outbox_put,
    .offset_put = pg_uow_offset_put,
    .offset_get = pg_uow_offset_get,
    .prefetch = pg_uow_prefetch,
    .close = pg_uow_close,
};

enum pw_err pw_pg_uow_open(struct pw_uow *uow, struct pw_pg_store *store)
{
    struct pg_uow *u = calloc(1, sizeof *u);
    if (!u)
        return PW_E_NOMEM;
    u->conn.store = store;
    uow->ops = &pg_uow_ops;
    uow->self = u;
    return PW_OK;
}
