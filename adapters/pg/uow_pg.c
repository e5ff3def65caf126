/*
 * The PostgreSQL unit of work: one transaction on a connection of its own.
 *
 * Speed comes from few round trips, not from weaker durability. Reads are
 * served from a per-transaction cache that prefetch fills for a whole batch
 * in two queries (posts, inbox marks). Writes are buffered and sent at
 * commit as one multi-row statement per table (unnest of array parameters).
 * So a batch costs a handful of round trips whatever its size, and the
 * commit is one fsync. This file is the transaction and its read cache;
 * write_pg.c sends the buffered writes, checked optimistically.
 */
#define _GNU_SOURCE /* tsearch(), tdestroy() */
#include "adapters/pg/uow_pg.h"

#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "domain/text.h"

/* FNV-1a over a, then a separator, then b. */
static struct pg_key pg_key_of(const char *a, const char *b)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)a; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    h = (h ^ 0xff) * 0x100000001b3ULL; /* no UTF-8 text holds 0xff: ("ab","c") != ("a","bc") */
    for (const unsigned char *p = (const unsigned char *)b; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    return (struct pg_key){.hash = h, .a = a, .b = b};
}

static int pg_key_cmp(const void *x, const void *y)
{
    const struct pg_key *k = x, *l = y;
    if (k->hash != l->hash)
        return k->hash < l->hash ? -1 : 1;
    int c = strcmp(k->a, l->a);
    return c ? c : strcmp(k->b, l->b);
}

/* The nodes are freed with their arrays: the tree only lets go of them. */
static void pg_node_keep(void *node)
{
    (void)node;
}

/* Forgets everything of the transaction: caches, buffered writes. */
void pg_uow_drop(struct pg_uow *u)
{
    tdestroy(u->posts_index, pg_node_keep);
    tdestroy(u->marks_index, pg_node_keep);
    u->posts_index = u->marks_index = NULL;
    for (size_t i = 0; i < u->nposts; i++) {
        pw_post_release(&u->posts[i]->post);
        free(u->posts[i]);
    }
    for (size_t i = 0; i < u->nmarks; i++)
        free(u->marks[i]);
    for (size_t i = 0; i < u->nevents; i++)
        pw_out_release(&u->events[i]);
    for (size_t i = 0; i < u->ndead; i++)
        pw_out_release(&u->dead[i]);
    for (size_t i = 0; i < u->noffsets; i++)
        free(u->offsets[i].buf);
    for (size_t i = 0; i < u->nvalues; i++)
        PQfreemem(u->values[i]);
    u->nposts = u->nmarks = u->nevents = u->ndead = u->noffsets = u->nvalues = 0;
    u->open = false;
    u->held = false;
}

struct pg_post_slot *pg_post_find(struct pg_uow *u, const char *post_id)
{
    struct pg_key key = pg_key_of(post_id, "");
    void **hit = tfind(&key, &u->posts_index, pg_key_cmp);
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
    pw_text_copy(s->post.post_id, sizeof s->post.post_id, post_id);
    s->key = pg_key_of(s->post.post_id, "");
    s->parked = -1;
    if (!tsearch(s, &u->posts_index, pg_key_cmp)) {
        free(s);
        return NULL;
    }
    u->posts[u->nposts++] = s;
    return s;
}

static struct pg_mark *pg_mark_find(struct pg_uow *u, const char *source, const char *id)
{
    struct pg_key key = pg_key_of(source, id);
    void **hit = tfind(&key, &u->marks_index, pg_key_cmp);
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
    m->key = pg_key_of(m->buf, m->buf + ns);
    if (!tsearch(m, &u->marks_index, pg_key_cmp)) {
        free(m);
        return NULL;
    }
    u->marks[u->nmarks++] = m;
    return m;
}

/* Read in binary: a time as the server keeps it, not through extract's numeric arithmetic. */
#define PG_POST_COLUMNS                                                                        \
    "post_id, author_name, title, body, version, created_at, updated_at, deleted_at"

/* Fills a slot from row of res (columns as PG_POST_COLUMNS, in binary). */
static enum pw_err pg_post_fill(struct pg_post_slot *s, const PGresult *res, int row,
                                struct pw_errbuf *err)
{
    struct pw_post *p = &s->post;
    p->author_name = strdup(PQgetvalue(res, row, 1));
    p->title = strdup(PQgetvalue(res, row, 2));
    p->body = strdup(PQgetvalue(res, row, 3));
    if (!p->author_name || !p->title || !p->body)
        return pw_err_set(err, PW_E_NOMEM, "out of memory reading post '%s'", p->post_id);
    p->version = pg_bin_int(res, row, 4);
    p->created_at = pg_bin_time(res, row, 5);
    p->updated_at = pg_bin_time(res, row, 6);
    p->deleted_at = pg_bin_time(res, row, 7);
    s->found = true;
    s->base = p->version;
    return PW_OK;
}

enum pw_err pg_uow_need_open(struct pg_uow *u, struct pw_errbuf *err)
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
        rc = pg_query_binary(&u->conn, "read a post",
                             "SELECT " PG_POST_COLUMNS " FROM posts WHERE post_id = $1", 1, vals,
                             &res, err);
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
    enum pw_err rc = pg_uow_settle(u, err);
    if (!rc)
        rc = pg_connect(&u->conn, err);
    /* Relaxed: not built on commits a restart may have lost; not waited for (pg.h). */
    bool mine;
    uint64_t lsn;
    if (!rc && u->conn.store->relaxed && !(rc = pg_relaxed_vouch(&u->conn, &mine, &lsn, err)))
        rc = pg_query(&u->conn, "begin", "BEGIN; SET LOCAL synchronous_commit TO off", -1, NULL,
                      NULL, err);
    else if (!rc)
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
            m->outcome = pg_err_of(PQgetvalue(res, 0, 0));
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
                                    enum pw_err outcome, const char *post_id, int64_t version,
                                    struct pw_errbuf *err)
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
    pw_text_copy(m->post_id, sizeof m->post_id, post_id ? post_id : "");
    m->version = version;
    return PW_OK;
}

/* A new row at the end of *rows for topic, not yet counted; NULL when memory runs out. */
static struct pw_out *pg_row_new(struct pw_out **rows, size_t n, size_t *cap, enum pw_out_kind kind,
                                 const char *topic)
{
    if (pg_grow((void **)rows, cap, n + 1, sizeof **rows))
        return NULL;
    struct pw_out *out = &(*rows)[n];
    memset(out, 0, sizeof *out);
    out->kind = kind;
    pw_text_copy(out->topic, sizeof out->topic, topic);
    return out;
}

static enum pw_err pg_uow_outbox_put(void *self, const char *topic, struct pw_event *ev,
                                     struct pw_errbuf *err)
{
    struct pg_uow *u = self;
    enum pw_err rc = pg_uow_need_open(u, err);
    if (rc)
        return rc;
    struct pw_out *out = pg_row_new(&u->events, u->nevents, &u->cap_events, PW_OUT_EVENT, topic);
    if (!out)
        return pw_err_set(err, PW_E_NOMEM, "out of memory recording event");
    out->ev = *ev;
    memset(ev, 0, sizeof *ev);
    u->nevents++;
    return PW_OK;
}

static enum pw_err pg_uow_dead_letter_put(void *self, const char *topic,
                                          const struct pw_dead_letter *dl, struct pw_errbuf *err)
{
    struct pg_uow *u = self;
    enum pw_err rc = pg_uow_need_open(u, err);
    if (rc)
        return rc;
    struct pw_out *out = pg_row_new(&u->dead, u->ndead, &u->cap_dead, PW_OUT_DEAD_LETTER, topic);
    if (!out || pw_dead_letter_copy(&out->dl, dl))
        return pw_err_set(err, PW_E_NOMEM, "out of memory recording a dead letter");
    u->ndead++;
    return PW_OK;
}

/*
 * The posts of $1, and a row for each that is parked (its last column
 * true): parking costs the normal path no round trip of its own.
 */
#define PG_POSTS_PREFETCH                                                                      \
    "SELECT " PG_POST_COLUMNS ", false FROM posts WHERE post_id = ANY($1::text[])"            \
    " UNION ALL SELECT post_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, true"               \
    " FROM parked_posts WHERE post_id = ANY($1::text[])"

/*
 * Loads, in two queries, the posts (and whether each is parked) and the
 * inbox marks of cmds not seen yet.
 */
static enum pw_err pg_uow_prefetch(void *self, const struct pw_cmd *const *cmds, size_t n,
                                   struct pw_errbuf *err)
{
    struct pg_uow *u = self;
    struct pg_array a[3] = {{0}}; /* post ids; the inbox's sources and ids */
    PGresult *res = NULL;
    const char *vals[2];
    int lens[2], fmts[2];
    enum pw_err rc = pg_uow_need_open(u, err);
    size_t first = u->nposts; /* the slots from here on are this prefetch's */
    for (size_t i = 0; i < n && !rc; i++) {
        const struct pw_cmd *cmd = cmds[i];
        if (cmd->post_id && strlen(cmd->post_id) <= PW_POST_ID_MAX && !pg_post_find(u, cmd->post_id)) {
            if (!pg_post_slot_new(u, cmd->post_id))
                rc = pw_err_set(err, PW_E_NOMEM, "out of memory prefetching");
            pg_array_add(&a[0], cmd->post_id);
        }
        if (!rc && !pg_mark_find(u, cmd->env.source, cmd->env.id)) {
            if (!pg_mark_new(u, cmd->env.source, cmd->env.id))
                rc = pw_err_set(err, PW_E_NOMEM, "out of memory prefetching");
            pg_array_add(&a[1], cmd->env.source);
            pg_array_add(&a[2], cmd->env.id);
        }
    }
    if (!rc && a[0].n) {
        rc = pg_arrays_params(&a[0], 1, vals, lens, fmts)
                 ? pg_query_params(&u->conn, "prefetch posts", PG_POSTS_PREFETCH, 1,
                                   &(struct pg_params){vals, lens, fmts}, true, true, &res, err)
                 : pw_err_set(err, PW_E_NOMEM, "out of memory prefetching");
        for (size_t i = first; !rc && i < u->nposts; i++)
            u->posts[i]->parked = 0; /* asked about: unless a row below says otherwise */
        for (int r = 0; !rc && r < PQntuples(res); r++) {
            struct pg_post_slot *s = pg_post_find(u, PQgetvalue(res, r, 0));
            if (s && PQgetvalue(res, r, 8)[0]) /* a bool in binary: one byte, 1 for true */
                s->parked = -1; /* parked: parked_get reads the rest */
            else if (s && !s->found)
                rc = pg_post_fill(s, res, r, err);
        }
        PQclear(res);
        res = NULL;
    }
    if (!rc && a[1].n) {
        rc = pg_arrays_params(&a[1], 2, vals, lens, fmts)
                 ? pg_query_params(&u->conn, "prefetch the inbox", PG_INBOX_PREFETCH, 2,
                                   &(struct pg_params){vals, lens, fmts}, true, false, &res, err)
                 : pw_err_set(err, PW_E_NOMEM, "out of memory prefetching");
        for (int r = 0; !rc && r < PQntuples(res); r++) {
            struct pg_mark *m = pg_mark_find(u, PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
            if (m && !m->written) {
                m->found = true;
                m->outcome = pg_err_of(PQgetvalue(res, r, 2));
            }
        }
        PQclear(res);
    }
    pg_arrays_release(a, 3);
    return rc;
}

static enum pw_err pg_uow_commit(void *self, struct pw_errbuf *err)
{
    return pg_uow_end(self, false, err);
}

static enum pw_err pg_uow_commit_send(void *self, struct pw_errbuf *err)
{
    return pg_uow_end(self, true, err);
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
    free(u->dead);
    free(u->offsets);
    free(u->values);
    free(u);
}

static const struct pw_uow_ops pg_uow_ops = {
    .name = "pg",
    .begin = pg_uow_begin,
    .commit = pg_uow_commit,
    .commit_send = pg_uow_commit_send,
    .settle = pg_uow_settle,
    .rollback = pg_uow_rollback,
    .posts = pg_uow_posts,
    .inbox_get = pg_uow_inbox_get,
    .inbox_put = pg_uow_inbox_put,
    .outbox_put = pg_uow_outbox_put,
    .dead_letter_put = pg_uow_dead_letter_put,
    .offset_put = pg_uow_offset_put,
    .parked_get = pg_uow_parked_get,
    .park = pg_uow_park,
    .unpark = pg_uow_unpark,
    .hold = pg_uow_hold,
    .held_get = pg_uow_held_get,
    .held_done = pg_uow_held_done,
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
