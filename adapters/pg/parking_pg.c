/*
 * Parking on PostgreSQL: the unit of work's parking operations, inside its
 * transaction, and the store port's queries of parked posts.
 *
 * Parking is the rare path, so its writes are not buffered like a batch's:
 * each runs at once, inside the open transaction, and later reads in the
 * transaction see it. Holding a command and draining a post's last one both
 * write the parked post's row (its held count): they meet on its lock, so
 * a command is never held behind a post that a concurrent drain has just
 * unparked, and a post is never unparked with a command still held.
 */
#include "adapters/pg/uow_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_PARKED_COLUMNS                                                                      \
    "p.post_id, p.draining, p.code, p.failed_source, p.failed_id, p.failed_value, p.topic,"    \
    " p.partition, p.at_offset, (extract(epoch from p.parked_at) * 1000)::int8, p.held,"       \
    " coalesce((SELECT (extract(epoch from min(h.held_at)) * 1000)::int8 FROM held_commands h" \
    " WHERE h.post_id = p.post_id), 0)"

/*
 * Fills *p from row r (columns as PG_PARKED_COLUMNS); with value, the
 * failed value unescaped into *value (the caller PQfreemem's it) and shown.
 */
static enum pw_err pg_parked_fill(struct pw_parked *p, const PGresult *res, int r,
                                  unsigned char **value, struct pw_errbuf *err)
{
    memset(p, 0, sizeof *p);
    snprintf(p->post_id, sizeof p->post_id, "%s", PQgetvalue(res, r, 0));
    p->draining = PQgetvalue(res, r, 1)[0] == 't';
    p->code = pg_err_of(PQgetvalue(res, r, 2));
    snprintf(p->source, sizeof p->source, "%s", PQgetvalue(res, r, 3));
    snprintf(p->id, sizeof p->id, "%s", PQgetvalue(res, r, 4));
    snprintf(p->topic, sizeof p->topic, "%s", PQgetvalue(res, r, 6));
    p->partition = (int32_t)pg_int(res, r, 7);
    p->offset = pg_int(res, r, 8);
    p->parked_ms = pg_int(res, r, 9);
    p->held = pg_int(res, r, 10);
    p->oldest_ms = pg_int(res, r, 11);
    if (!value || PQgetisnull(res, r, 5))
        return PW_OK;
    size_t len = 0;
    *value = PQunescapeBytea((const unsigned char *)PQgetvalue(res, r, 5), &len);
    if (!*value)
        return pw_err_set(err, PW_E_NOMEM, "out of memory reading parked post '%s'", p->post_id);
    p->value = *value;
    p->value_len = len;
    return PW_OK;
}

/* The parking of post_id is no longer what the prefetch said: ask the database next time. */
static void pg_parked_forget(struct pg_uow *u, const char *post_id)
{
    struct pg_post_slot *s = pg_post_find(u, post_id);
    if (s)
        s->parked = -1;
}

enum pw_err pg_uow_parked_get(void *self, const char *post_id, struct pw_parked *p, bool *found,
                              struct pw_errbuf *err)
{
    struct pg_uow *u = self;
    enum pw_err rc = pg_uow_need_open(u, err);
    struct pg_post_slot *s = rc ? NULL : pg_post_find(u, post_id);
    if (rc || (s && s->parked == 0))
        return rc; /* the prefetch found it not parked, and nothing parked it since */
    PGresult *res = NULL;
    const char *vals[] = {post_id};
    rc = pg_query(&u->conn, "read a parked post",
                  "SELECT " PG_PARKED_COLUMNS " FROM parked_posts p WHERE p.post_id = $1", 1,
                  vals, &res, err);
    if (rc)
        return rc;
    *found = PQntuples(res) == 1;
    unsigned char *value = NULL;
    if (*found && !(rc = pg_parked_fill(p, res, 0, &value, err)) && value &&
        pg_grow((void **)&u->values, &u->cap_values, u->nvalues + 1, sizeof *u->values)) {
        PQfreemem(value);
        rc = pw_err_set(err, PW_E_NOMEM, "out of memory reading parked post '%s'", post_id);
    } else if (value) {
        u->values[u->nvalues++] = value; /* lives until the transaction ends */
    }
    PQclear(res);
    return rc;
}

enum pw_err pg_uow_park(void *self, const struct pw_parked *p, struct pw_errbuf *err)
{
    struct pg_uow *u = self;
    enum pw_err rc = pg_uow_need_open(u, err);
    if (rc)
        return rc;
    char part[16], off[24];
    snprintf(part, sizeof part, "%d", (int)p->partition);
    snprintf(off, sizeof off, "%lld", (long long)p->offset);
    char *value = pg_hex_text(p->value, p->value_len);
    if (p->value && !value)
        return pw_err_set(err, PW_E_NOMEM, "out of memory parking post '%s'", p->post_id);
    const char *vals[] = {p->post_id,         pw_err_name(p->code),
                          p->id[0] ? p->source : NULL, p->id[0] ? p->id : NULL,
                          value,              p->topic, part, off};
    rc = pg_query(&u->conn, "park a post",
                  "INSERT INTO parked_posts (post_id, code, failed_source, failed_id, failed_value,"
                  " topic, partition, at_offset) VALUES ($1, $2, $3, $4, $5::bytea, $6, $7, $8)"
                  " ON CONFLICT (post_id) DO UPDATE SET draining = false, code = EXCLUDED.code,"
                  " failed_source = EXCLUDED.failed_source, failed_id = EXCLUDED.failed_id,"
                  " failed_value = EXCLUDED.failed_value, topic = EXCLUDED.topic,"
                  " partition = EXCLUDED.partition, at_offset = EXCLUDED.at_offset,"
                  " parked_at = now()",
                  8, vals, NULL, err);
    free(value);
    pg_parked_forget(u, p->post_id);
    return rc;
}

/* With none held, a draining post is parked no more. */
static enum pw_err pg_unpark_if_done(struct pg_uow *u, const char *post_id, struct pw_errbuf *err)
{
    const char *vals[] = {post_id};
    return pg_query(&u->conn, "unpark a drained post",
                    "DELETE FROM parked_posts WHERE post_id = $1 AND draining AND held = 0", 1,
                    vals, NULL, err);
}

enum pw_err pg_uow_unpark(void *self, const char *post_id, struct pw_errbuf *err)
{
    struct pg_uow *u = self;
    enum pw_err rc = pg_uow_need_open(u, err);
    const char *vals[] = {post_id};
    if (!rc)
        rc = pg_query(&u->conn, "drain a parked post",
                      "UPDATE parked_posts SET draining = true WHERE post_id = $1", 1, vals, NULL,
                      err);
    if (!rc)
        rc = pg_unpark_if_done(u, post_id, err);
    pg_parked_forget(u, post_id);
    return rc;
}

/* A statement that must touch exactly one row, or another transaction got there first. */
static enum pw_err pg_one_row(struct pg_uow *u, const char *what, const char *sql, int n,
                              const char *const *vals, struct pw_errbuf *err)
{
    PGresult *res = NULL;
    enum pw_err rc = pg_query(&u->conn, what, sql, n, vals, &res, err);
    if (rc)
        return rc;
    bool one = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    return one ? PW_OK
               : pw_err_set(err, PW_E_TRANSIENT,
                            "serialization failure: %s: another transaction changed it first",
                            what);
}

enum pw_err pg_uow_hold(void *self, const char *post_id, const char *source, const char *id,
                        const struct pw_origin *o, unsigned deaths, struct pw_errbuf *err)
{
    struct pg_uow *u = self;
    enum pw_err rc = pg_uow_need_open(u, err);
    if (rc)
        return rc;
    const char *post[] = {post_id};
    u->held = true;
    rc = pg_one_row(u, "count a held command",
                    "UPDATE parked_posts SET held = held + 1 WHERE post_id = $1", 1, post, err);
    if (rc)
        return rc;
    size_t hlen = pw_headers_packed_size(o->headers, o->nheaders);
    unsigned char *packed = malloc(hlen + 1);
    if (packed)
        pw_headers_pack(o->headers, o->nheaders, packed);
    char *key = pg_hex_text(o->key, o->key_len), *value = pg_hex_text(o->value, o->value_len),
         *headers = packed ? pg_hex_text(packed, hlen) : NULL;
    char part[16], off[24], ts[24], dead[16];
    snprintf(part, sizeof part, "%d", (int)o->partition);
    snprintf(dead, sizeof dead, "%u", deaths);
    snprintf(off, sizeof off, "%lld", (long long)o->offset);
    snprintf(ts, sizeof ts, "%lld", (long long)o->timestamp_ms);
    const char *vals[] = {post_id, source, id, o->group ? o->group : "", o->topic ? o->topic : "",
                          part,    off,    ts, key,  value, headers, dead};
    if (!headers || (o->key && !key) || (o->value && !value))
        rc = pw_err_set(err, PW_E_NOMEM, "out of memory holding a command of '%s'", post_id);
    else
        rc = pg_one_row(u, "hold a command",
                        "INSERT INTO held_commands (post_id, source, id, consumer_group, topic,"
                        " partition, at_offset, ts, key, value, headers, deaths) VALUES ($1, $2,"
                        " $3, $4, $5, $6, $7, $8, $9::bytea, $10::bytea, $11::bytea, $12)"
                        " ON CONFLICT (source, id) DO NOTHING",
                        12, vals, err);
    free(packed);
    free(key);
    free(value);
    free(headers);
    return rc;
}

enum pw_err pg_uow_held_get(void *self, const char *source, const char *id, bool *found,
                            struct pw_errbuf *err)
{
    struct pg_uow *u = self;
    enum pw_err rc = pg_uow_need_open(u, err);
    const char *vals[] = {source, id};
    PGresult *res = NULL;
    if (!rc)
        rc = pg_query(&u->conn, "read the held commands",
                      "SELECT 1 FROM held_commands WHERE source = $1 AND id = $2", 2, vals, &res,
                      err);
    if (!rc)
        *found = PQntuples(res) > 0;
    PQclear(res);
    return rc;
}

enum pw_err pg_uow_held_done(void *self, uint64_t seq, struct pw_errbuf *err)
{
    struct pg_uow *u = self;
    enum pw_err rc = pg_uow_need_open(u, err);
    if (rc)
        return rc;
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)seq);
    const char *vals[] = {num};
    PGresult *res = NULL;
    rc = pg_query(&u->conn, "take a held command from its queue",
                  "DELETE FROM held_commands WHERE seq = $1 RETURNING post_id", 1, vals, &res, err);
    char post_id[PW_POST_ID_MAX + 1] = "";
    if (!rc && PQntuples(res) == 1)
        snprintf(post_id, sizeof post_id, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    if (!rc && !post_id[0])
        rc = pw_err_set(err, PW_E_TRANSIENT,
                        "serialization failure: held command %s was run by another transaction",
                        num);
    if (rc)
        return rc;
    const char *post[] = {post_id};
    rc = pg_one_row(u, "count a held command done",
                    "UPDATE parked_posts SET held = held - 1 WHERE post_id = $1", 1, post, err);
    if (!rc)
        rc = pg_unpark_if_done(u, post_id, err);
    pg_parked_forget(u, post_id);
    return rc;
}

/* The store port's queries: on the port's own connection, each its own transaction. */

#define PG_HELD_COLUMNS                                                                        \
    "h.seq, h.post_id, h.consumer_group, h.topic, h.partition, h.at_offset, h.ts, h.key,"      \
    " h.value, h.headers, h.deaths"

/*
 * First the held command whose run was the last one started at the held
 * commands' place (PW_HELD_PARTITION: one row per group and topic): still
 * held, that run did not finish. Else the one held longest. Each branch
 * reads a row or two, however many are held.
 */
static const char pg_held_next_sql[] =
    "(SELECT " PG_HELD_COLUMNS ", 0 AS rank FROM run_attempts a"
    " JOIN held_commands h ON h.seq = a.at_offset AND h.consumer_group = a.consumer_group"
    " AND h.topic = a.topic JOIN parked_posts p ON p.post_id = h.post_id"
    " WHERE a.partition = -1 AND p.draining LIMIT 1)"
    " UNION ALL (SELECT " PG_HELD_COLUMNS ", 1 FROM held_commands h"
    " JOIN parked_posts p USING (post_id) WHERE p.draining ORDER BY h.seq LIMIT 1)"
    " ORDER BY rank LIMIT 1";

enum pw_err pg_held_next(struct pg_conn *c, struct pw_held *h, bool *found,
                         struct pw_errbuf *err)
{
    PGresult *res = NULL;
    enum pw_err rc = pg_connect(c, err);
    if (!rc)
        rc = pg_query(c, "read the next held command",
                      pg_held_next_sql, 0, NULL, &res, err);
    if (rc || PQntuples(res) == 0) {
        PQclear(res);
        return rc;
    }
    size_t klen = 0, vlen = 0, hlen = 0, nh = 0;
    unsigned char *key = PQgetisnull(res, 0, 7) ? NULL
                         : PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 7), &klen);
    unsigned char *value = PQgetisnull(res, 0, 8) ? NULL
                           : PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 8), &vlen);
    unsigned char *packed = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 9), &hlen);
    struct pw_header *hs = NULL;
    rc = !packed || (!PQgetisnull(res, 0, 7) && !key) || (!PQgetisnull(res, 0, 8) && !value)
             ? PW_E_NOMEM
             : pw_headers_unpack(packed, hlen, NULL, 0, &nh);
    if (!rc && nh && !(hs = calloc(nh, sizeof *hs)))
        rc = PW_E_NOMEM;
    if (!rc)
        rc = pw_headers_unpack(packed, hlen, hs, nh, &nh);
    if (!rc) {
        struct pw_origin o = {.group = PQgetvalue(res, 0, 2), .topic = PQgetvalue(res, 0, 3),
                              .partition = (int32_t)pg_int(res, 0, 4),
                              .offset = pg_int(res, 0, 5), .timestamp_ms = pg_int(res, 0, 6),
                              .key = key, .key_len = klen, .value = value, .value_len = vlen,
                              .headers = hs, .nheaders = nh};
        memset(h, 0, sizeof *h);
        rc = pw_held_copy_origin(h, &o);
        h->seq = (uint64_t)pg_int(res, 0, 0);
        h->deaths = (unsigned)pg_int(res, 0, 10);
        snprintf(h->post_id, sizeof h->post_id, "%s", PQgetvalue(res, 0, 1));
        *found = rc == PW_OK;
    }
    free(hs);
    PQfreemem(key);
    PQfreemem(value);
    PQfreemem(packed);
    PQclear(res);
    if (rc == PW_E_NOMEM)
        return pw_err_set(err, rc, "out of memory reading a held command");
    return rc ? pw_err_set(err, rc, "a held command's headers do not unpack") : PW_OK;
}

enum pw_err pg_parked_list(struct pg_conn *c, const char *after, struct pw_parked *out,
                           size_t max, size_t *n, struct pw_errbuf *err)
{
    char lim[24];
    snprintf(lim, sizeof lim, "%zu", max);
    const char *vals[] = {after, lim};
    *n = 0;
    PGresult *res = NULL;
    enum pw_err rc = pg_connect(c, err);
    if (!rc)
        rc = pg_query(c, "list the parked posts",
                      "SELECT " PG_PARKED_COLUMNS " FROM parked_posts p WHERE p.post_id > $1"
                      " ORDER BY p.post_id LIMIT $2",
                      2, vals, &res, err);
    for (int r = 0; !rc && r < PQntuples(res) && *n < max; r++)
        rc = pg_parked_fill(&out[(*n)++], res, r, NULL, err);
    PQclear(res);
    if (rc)
        *n = 0;
    return rc;
}

enum pw_err pg_parking_stats(struct pg_conn *c, struct pw_parking_stats *st,
                             struct pw_errbuf *err)
{
    PGresult *res = NULL;
    enum pw_err rc = pg_connect(c, err);
    if (!rc)
        rc = pg_query(c, "count the parked posts",
                      "SELECT count(*), coalesce(sum(held), 0),"
                      " coalesce((extract(epoch from now() - min(parked_at)) * 1000)::int8, 0)"
                      " FROM parked_posts",
                      0, NULL, &res, err);
    if (!rc)
        *st = (struct pw_parking_stats){.posts = pg_int(res, 0, 0), .held = pg_int(res, 0, 1),
                                        .oldest_ms = pg_int(res, 0, 2)};
    PQclear(res);
    return rc;
}

/* release's steps, inside its transaction. */
static enum pw_err pg_release_in(struct pg_conn *c, const char *post_id, bool dry_run,
                                 struct pw_parked *p, bool *found, struct pw_errbuf *err)
{
    const char *vals[] = {post_id};
    PGresult *res = NULL;
    enum pw_err rc = pg_query(c, "read the post to release",
                              "SELECT " PG_PARKED_COLUMNS " FROM parked_posts p"
                              " WHERE p.post_id = $1 AND NOT p.draining FOR UPDATE",
                              1, vals, &res, err);
    if (!rc && PQntuples(res) == 1)
        rc = pg_parked_fill(p, res, 0, NULL, err);
    *found = !rc && PQntuples(res) == 1;
    PQclear(res);
    if (rc || !*found || dry_run)
        return rc;
    if (p->id[0]) { /* given up: sent again, it is a duplicate */
        const char *mark[] = {p->source, p->id, pw_err_name(p->code), p->post_id};
        rc = pg_query(c, "mark the released command",
                      "INSERT INTO inbox (source, id, outcome, post_id) VALUES ($1, $2, $3, $4)"
                      " ON CONFLICT (source, id) DO NOTHING",
                      4, mark, NULL, err);
    }
    if (!rc)
        rc = pg_query(c, "release the post",
                      "UPDATE parked_posts SET draining = true WHERE post_id = $1", 1, vals, NULL,
                      err);
    if (!rc)
        rc = pg_query(c, "unpark a drained post",
                      "DELETE FROM parked_posts WHERE post_id = $1 AND draining AND held = 0", 1,
                      vals, NULL, err);
    return rc;
}

enum pw_err pg_release(struct pg_conn *c, const char *post_id, bool dry_run, struct pw_parked *p,
                       bool *found, struct pw_errbuf *err)
{
    enum pw_err rc = pg_connect(c, err);
    if (!rc)
        rc = pg_query(c, "begin", "BEGIN", 0, NULL, NULL, err);
    if (rc)
        return rc;
    rc = pg_release_in(c, post_id, dry_run, p, found, err);
    if (!rc)
        rc = pg_query(c, "commit", "COMMIT", 0, NULL, NULL, err);
    if (rc && c->pg)
        pg_query(c, "rollback", "ROLLBACK", 0, NULL, NULL, NULL);
    return rc;
}
