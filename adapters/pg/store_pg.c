/*
 * The PostgreSQL store: where the database is (struct pw_pg_store, which
 * every handle connects through), and the store port (ports/store.h) on a
 * connection of its own: stored offsets, runs (runs_pg.c) and the queries
 * of parked posts (parking_pg.c). Migrations are in migrate_pg.c.
 */
#include "adapters/pg/uow_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/pg/lease_pg.h"

/*
 * A URI whose authority holds two '@' has one in its password, unescaped:
 * libpq would take part of the password for the host and print it in every
 * connection error. Refused as usage, without showing it.
 */
static bool pg_url_ambiguous(const char *url)
{
    const char *p = strstr(url, "://");
    if (!p || (strncmp(url, "postgresql://", 13) != 0 && strncmp(url, "postgres://", 11) != 0))
        return false;
    p += 3;
    size_t authority = strcspn(p, "/?"), ats = 0;
    for (size_t i = 0; i < authority; i++)
        ats += p[i] == '@';
    return ats > 1;
}

/* The password libpq will use, for scrubbing messages; NULL if none. */
static char *pg_password_of(PQconninfoOption *opts)
{
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
            return strdup(o->val);
    return NULL;
}

void pw_pg_store_relax(struct pw_pg_store *store)
{
    store->relaxed = true;
}

enum pw_err pw_pg_store_new(struct pw_pg_store **out, const char *url, const char *schema,
                            struct pw_errbuf *err)
{
    if (pg_url_ambiguous(url))
        return pw_err_set(err, PW_E_USAGE,
                          "DATABASE_URL has more than one '@' before its host: write an '@' in "
                          "the user or password as %%40");
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &errmsg);
    if (!opts) {
        /* libpq's message may quote the string, password and all: not shown. */
        PQfreemem(errmsg);
        return pw_err_set(err, PW_E_USAGE,
                          "DATABASE_URL is not a libpq URI or conninfo string: fix its syntax "
                          "(postgresql://user:password@host:port/dbname)");
    }
    struct pw_pg_store *store = calloc(1, sizeof *store);
    if (!store) {
        PQconninfoFree(opts);
        return pw_err_set(err, PW_E_NOMEM, "out of memory");
    }
    pthread_mutex_init(&store->lock, NULL);
    store->password = pg_password_of(opts);
    PQconninfoFree(opts);
    store->url = strdup(url);
    if (schema) {
        size_t n = strlen(schema) + 32;
        store->options = malloc(n);
        if (store->options)
            snprintf(store->options, n, "-c search_path=%s", schema);
    }
    if (!store->url || (schema && !store->options)) {
        pw_pg_store_free(store);
        return pw_err_set(err, PW_E_NOMEM, "out of memory");
    }
    atomic_init(&store->dirty, 1); /* at start, look for what an earlier run left */
    *out = store;
    return PW_OK;
}

void pw_pg_store_free(struct pw_pg_store *store)
{
    if (!store)
        return;
    free(store->url);
    free(store->options);
    free(store->password);
    pthread_mutex_destroy(&store->lock);
    free(store);
}

struct pg_store_port {
    struct pg_conn conn;
    PGconn *session;      /* the session the lease was asked in */
    struct pg_lease drain; /* the role of draining held commands */
};

/*
 * Whether this handle drains: it holds the drain's lease, or takes it now
 * (adapters/pg/lease_pg.c). A holder that died or stopped loses it within
 * PG_LEASE_MS. A stopped holder woken in the middle of a held command
 * cannot run it twice: the transaction that runs a held command removes
 * it, and another's finds it gone and fails (held_done).
 */
static enum pw_err pg_store_drainer(struct pg_store_port *p, bool *drains, struct pw_errbuf *err)
{
    enum pw_err rc = pg_connect(&p->conn, err);
    *drains = false;
    if (rc)
        return rc;
    if (p->session != p->conn.pg) { /* a new session: ask again */
        pg_lease_forget(&p->drain);
        p->session = p->conn.pg;
    }
    bool fresh;
    return pg_lease_hold(&p->drain, &p->conn, 0, drains, &fresh, err);
}

/*
 * Offsets stored before they were kept per group (migration 0002) are under
 * the group '': a group with none of its own yet starts from them, as the
 * deployment that wrote them would. Sharing them is safe: groups that share
 * a database share its inbox, so what another group applied is a duplicate.
 */
static enum pw_err pg_store_offset_get(void *self, const char *group, const char *topic,
                                       int32_t partition, int64_t *offset, struct pw_errbuf *err)
{
    struct pg_store_port *p = self;
    char part[16];
    snprintf(part, sizeof part, "%d", (int)partition);
    const char *vals[] = {group, topic, part};
    PGresult *res = NULL;
    enum pw_err rc = pg_connect(&p->conn, err);
    if (!rc)
        rc = pg_query(&p->conn, "read the stored offset",
                      "SELECT next_offset FROM consumer_offsets"
                      " WHERE consumer_group IN ($1, '') AND topic = $2 AND partition = $3"
                      " ORDER BY consumer_group = $1 DESC LIMIT 1",
                      3, vals, &res, err);
    if (rc)
        return rc;
    *offset = PQntuples(res) == 1 ? pg_int(res, 0, 0) : -1;
    PQclear(res);
    return PW_OK;
}

static enum pw_err pg_store_runs_end(void *self, const struct pw_run_start *r, size_t n,
                                     struct pw_errbuf *err)
{
    struct pg_store_port *p = self;
    return pg_runs_end(&p->conn, r, n, err);
}

static enum pw_err pg_store_runs_start(void *self, struct pw_run_start *r, size_t n,
                                       struct pw_errbuf *err)
{
    struct pg_store_port *p = self;
    return pg_runs_start(&p->conn, r, n, err);
}

static enum pw_err pg_store_held_next(void *self, struct pw_held *h, bool *found,
                                      struct pw_errbuf *err)
{
    struct pg_store_port *p = self;
    bool drains = false;
    enum pw_err rc = pg_store_drainer(p, &drains, err);
    return rc || !drains ? rc : pg_held_next(&p->conn, h, found, err);
}

static enum pw_err pg_store_parked_list(void *self, const char *after, struct pw_parked *out,
                                        size_t max, size_t *n, struct pw_errbuf *err)
{
    struct pg_store_port *p = self;
    return pg_parked_list(&p->conn, after, out, max, n, err);
}

static enum pw_err pg_store_parking_stats(void *self, struct pw_parking_stats *st,
                                          struct pw_errbuf *err)
{
    struct pg_store_port *p = self;
    return pg_parking_stats(&p->conn, st, err);
}

static enum pw_err pg_store_release(void *self, const char *post_id, bool dry_run,
                                    struct pw_parked *parked, bool *found, struct pw_errbuf *err)
{
    struct pg_store_port *p = self;
    return pg_release(&p->conn, post_id, dry_run, parked, found, err);
}

static void pg_store_close(void *self)
{
    struct pg_store_port *p = self;
    if (!p)
        return;
    pg_lease_give_up(&p->drain, &p->conn); /* a clean stop hands the drain over at once */
    pg_disconnect(&p->conn);
    free(p);
}

static enum pw_err pg_store_holds_nothing(void *self, bool *empty, struct pw_errbuf *err)
{
    struct pg_store_port *p = self;
    PGresult *res = NULL;
    enum pw_err rc = pg_connect(&p->conn, err);
    if (!rc)
        rc = pg_query(&p->conn, "look for anything stored",
                      "SELECT NOT EXISTS (SELECT 1 FROM inbox)"
                      " AND NOT EXISTS (SELECT 1 FROM consumer_offsets)",
                      0, NULL, &res, err);
    if (rc)
        return rc;
    *empty = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return PW_OK;
}

/*
 * Oldest first, a batch at a time, by the index on processed_at
 * (migration 0011): each call is a short transaction of its own, so that
 * the unit of work never waits behind it for long. The workers of a group
 * each prune: one skips the rows another is deleting, rather than wait for
 * them and find them gone.
 */
static enum pw_err pg_store_prune_inbox(void *self, int64_t older_ms, size_t max, size_t *pruned,
                                        struct pw_errbuf *err)
{
    struct pg_store_port *p = self;
    char ms[24], limit[24];
    snprintf(ms, sizeof ms, "%lld", (long long)older_ms);
    snprintf(limit, sizeof limit, "%zu", max);
    const char *vals[] = {ms, limit};
    PGresult *res = NULL;
    enum pw_err rc = pg_connect(&p->conn, err);
    if (!rc)
        rc = pg_query(&p->conn, "prune the inbox",
                      "WITH gone AS (DELETE FROM inbox WHERE ctid = ANY(ARRAY("
                      "SELECT ctid FROM inbox"
                      " WHERE processed_at < now() - $1::int8 * interval '1 millisecond'"
                      " ORDER BY processed_at LIMIT $2::int8 FOR UPDATE SKIP LOCKED)) RETURNING 1)"
                      " SELECT count(*) FROM gone",
                      2, vals, &res, err);
    if (rc)
        return rc;
    *pruned = (size_t)pg_int(res, 0, 0);
    PQclear(res);
    return PW_OK;
}

static const struct pw_store_ops pg_store_ops = {
    .name = "pg",
    .offset_get = pg_store_offset_get,
    .holds_nothing = pg_store_holds_nothing,
    .prune_inbox = pg_store_prune_inbox,
    .runs_start = pg_store_runs_start,
    .runs_end = pg_store_runs_end,
    .held_next = pg_store_held_next,
    .parked_list = pg_store_parked_list,
    .parking_stats = pg_store_parking_stats,
    .release = pg_store_release,
    .close = pg_store_close,
};

enum pw_err pw_pg_store_open(struct pw_store *port, struct pw_pg_store *store)
{
    struct pg_store_port *p = calloc(1, sizeof *p);
    if (!p)
        return PW_E_NOMEM;
    p->conn.store = store;
    pg_lease_init(&p->drain, "drain");
    port->ops = &pg_store_ops;
    port->self = p;
    return PW_OK;
}
