/*
 * libpq at the boundary. A PGresult or a SQLSTATE never leaves this
 * folder: it becomes a code and a one-line message here. Parameters always
 * travel separately from the SQL text.
 */
#include "adapters/pg/conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Server notices ("already exists, skipping") are not for the worker's log. */
static void pg_notice_ignore(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Replaces every occurrence of secret in msg (NUL-terminated) with "***". */
static void pg_scrub(char *msg, const char *secret)
{
    size_t n = secret ? strlen(secret) : 0;
    char *at, *from = msg;
    while (n >= 3 && (at = strstr(from, secret)) != NULL) {
        memcpy(at, "***", 3);
        memmove(at + 3, at + n, strlen(at + n) + 1);
        from = at + 3;
    }
}

/*
 * The server's answers to a login that will not work however long one
 * waits: a wrong password, a role or database that does not exist, no
 * pg_hba.conf entry. libpq gives no SQLSTATE for them, only text (the
 * server's lc_messages: English unless set otherwise).
 */
static bool pg_login_refused(const char *msg)
{
    static const char *const signs[] = {
        "password authentication failed", "does not exist", "no pg_hba.conf entry",
        "no password supplied", "Peer authentication failed", "permission denied for database",
        "role is not permitted to log in"};
    for (size_t i = 0; i < sizeof signs / sizeof signs[0]; i++)
        if (strstr(msg, signs[i]))
            return true;
    return false;
}

/* The server's own words in a connection error: what follows "FATAL:". */
static const char *pg_after_fatal(const char *msg)
{
    const char *f = strstr(msg, "FATAL:");
    if (!f)
        return msg;
    for (f += 6; *f == ' '; f++)
        ;
    return f;
}

enum pw_err pg_connect(struct pg_conn *c, struct pw_errbuf *err)
{
    if (c->pg && PQstatus(c->pg) == CONNECTION_OK)
        return PW_OK;
    pg_disconnect(c);
    /* expand_dbname: the url is expanded, and the keywords after it override it. */
    const char *keys[5] = {"dbname", "application_name", "connect_timeout", NULL, NULL};
    const char *vals[5] = {c->store->url, "postworker", "5", NULL, NULL};
    if (c->store->options) {
        keys[3] = "options";
        vals[3] = c->store->options;
    }
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg)
        return pw_err_set(err, PW_E_NOMEM, "out of memory connecting to the database");
    if (PQstatus(c->pg) != CONNECTION_OK) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(c->pg));
        msg[strcspn(msg, "\n")] = '\0';
        pg_scrub(msg, c->store->password);
        bool refused = PQconnectionNeedsPassword(c->pg) || pg_login_refused(msg);
        pg_disconnect(c);
        /*
         * A value libpq refuses before it touches the network (port "xx",
         * sslmode "maybe") will not get better by waiting: it is usage. So
         * is a login the server refuses: waiting would wait forever.
         */
        if (strncmp(msg, "invalid ", 8) == 0)
            return pw_err_set(err, PW_E_USAGE, "DATABASE_URL: %s", msg);
        if (refused)
            return pw_err_set(err, PW_E_USAGE,
                              "the database refused the login: %s (check DATABASE_URL's user, "
                              "password and database name)",
                              pg_after_fatal(msg));
        return pw_err_set(err, PW_E_TRANSIENT, "cannot connect to the database: %s", msg);
    }
    PQsetNoticeProcessor(c->pg, pg_notice_ignore, NULL);
    c->born = atomic_fetch_add(&c->store->connects, 1) + 1;
    c->flushed_lsn = 0;
    return PW_OK;
}

uint64_t pg_relaxed_sent(struct pw_pg_store *st)
{
    return atomic_load(&st->connects);
}

void pg_relaxed_committed(struct pw_pg_store *st, uint64_t gen, uint64_t end)
{
    pthread_mutex_lock(&st->lock);
    if (end > st->commit_lsn)
        st->commit_lsn = end;
    if (!st->pending_gen)
        st->pending_gen = gen;
    pthread_mutex_unlock(&st->lock);
}

bool pg_relaxed_pending(struct pw_pg_store *st, uint64_t *lsn, uint64_t *gen)
{
    pthread_mutex_lock(&st->lock);
    *lsn = st->commit_lsn;
    *gen = st->pending_gen;
    pthread_mutex_unlock(&st->lock);
    return *gen != 0;
}

void pg_relaxed_confirmed(struct pw_pg_store *st, uint64_t lsn)
{
    pthread_mutex_lock(&st->lock);
    if (st->commit_lsn == lsn) /* a later server (a standby promoted) may be behind it */
        st->commit_lsn = st->pending_gen = 0;
    pthread_mutex_unlock(&st->lock);
}

void pg_relaxed_forget(struct pw_pg_store *st)
{
    pthread_mutex_lock(&st->lock);
    st->commit_lsn = st->pending_gen = 0;
    pthread_mutex_unlock(&st->lock);
}

enum pw_err pg_relaxed_vouch(struct pg_conn *c, bool *mine, uint64_t *lsn, struct pw_errbuf *err)
{
    uint64_t gen;
    *lsn = 0;
    if (!(*mine = pg_relaxed_pending(c->store, lsn, &gen)) || c->born <= gen)
        return PW_OK;
    pg_relaxed_forget(c->store);
    *mine = false;
    *lsn = 0;
    return pw_err_set(err, PW_E_LOST_COMMITS,
                      "the connection to the database broke while commits made with "
                      "--durability relaxed were not known on disk: the server may have "
                      "restarted and lost them; reading again from the stored offsets");
}

void pg_disconnect(struct pg_conn *c)
{
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    c->nprepared = 0; /* prepared statements die with their session, */
    c->piped = 0;     /* and so does a pipeline's */
}

/* The statement name of sql on this connection, preparing it the first time. */
static PGresult *pg_prepared(struct pg_conn *c, const char *sql, int n, char name[16])
{
    int i = 0;
    while (i < c->nprepared && c->prepared[i] != sql)
        i++;
    snprintf(name, 16, "pw%d", i);
    if (i < c->nprepared)
        return NULL;
    if (i == PG_MAX_PREPARED) {
        name[0] = '\0'; /* out of slots: the unnamed statement, prepared each time */
        return PQprepare(c->pg, name, sql, n, NULL);
    }
    PGresult *r = PQprepare(c->pg, name, sql, n, NULL);
    if (r && PQresultStatus(r) == PGRES_COMMAND_OK)
        c->prepared[c->nprepared++] = sql;
    return r;
}

static bool pg_transient_state(const char *state)
{
    if (!state)
        return true; /* no SQLSTATE: the connection itself failed */
    return strncmp(state, "08", 2) == 0 || strncmp(state, "40", 2) == 0 ||
           strncmp(state, "53", 2) == 0 || strncmp(state, "57", 2) == 0 ||
           strcmp(state, "55P03") == 0;
}

static enum pw_err pg_query_as(struct pg_conn *c, const char *what, const char *sql, int n,
                               const struct pg_params *ps, bool planned, int format,
                               PGresult **res, struct pw_errbuf *err)
{
    if (!c->pg)
        return pw_err_set(err, PW_E_TRANSIENT, "%s: not connected to the database", what);
    if (pg_pipe_open(c))
        return pw_err_set(err, PW_E_FATAL, "%s: a query while a pipeline is unread (a bug)", what);
    /* A script (a migration) has several statements and no parameters: PQexec runs those. */
    PGresult *r = NULL;
    if (n < 0) {
        r = PQexec(c->pg, sql);
    } else if (planned) {
        r = PQexecParams(c->pg, sql, n, NULL, ps->vals, ps->lens, ps->fmts, format);
    } else {
        char name[16];
        r = pg_prepared(c, sql, n, name);
        if (!r || PQresultStatus(r) == PGRES_COMMAND_OK) {
            PQclear(r);
            r = PQexecPrepared(c->pg, name, n, ps->vals, ps->lens, ps->fmts, format);
        }
    }
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    c->sqlstate[0] = '\0';
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (res)
            *res = r;
        else
            PQclear(r);
        return PW_OK;
    }
    const char *field = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    char statebuf[8] = "";
    if (field) {
        snprintf(statebuf, sizeof statebuf, "%s", field);
        snprintf(c->sqlstate, sizeof c->sqlstate, "%s", field);
    }
    const char *state = field ? statebuf : NULL;
    char msg[200];
    snprintf(msg, sizeof msg, "%s", r ? PQresultErrorMessage(r) : PQerrorMessage(c->pg));
    msg[strcspn(msg, "\n")] = '\0';
    bool transient = pg_transient_state(state) || PQstatus(c->pg) != CONNECTION_OK;
    /*
     * Classes 22 (data exception), 23 (a constraint) and 54 (a limit) are
     * about the values written: some command's data, which running the batch
     * one command at a time will find. Anything else (a missing table, a
     * refused login) no command could pass.
     */
    bool data = state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0 ||
                          strncmp(state, "54", 2) == 0);
    /*
     * A statement the server cut off (57014: statement_timeout, a cancel)
     * while it answers everything else is the statement's doing:
     * interrupted, which the failure path counts when it keeps happening to
     * the same run. A connection lost mid-statement is not: a backend that
     * crashed cannot be told from an outage (a network drop, a restart, a
     * server that crash-loops on a full disk), and an outage is waited for,
     * never counted against a command.
     */
    bool interrupted = state && strcmp(state, "57014") == 0;
    enum pw_err code = interrupted ? PW_E_INTERRUPTED
                       : transient ? PW_E_TRANSIENT
                       : data      ? PW_E_APPLY_FAILED
                                   : PW_E_FATAL;
    PQclear(r);
    if (PQstatus(c->pg) != CONNECTION_OK)
        pg_disconnect(c); /* the next begin connects again */
    return pw_err_set(err, code, "%s: %s%s%s%s", what, msg, state ? " (SQLSTATE " : "",
                      state ? state : "", state ? ")" : "");
}

enum pw_err pg_query(struct pg_conn *c, const char *what, const char *sql, int n,
                     const char *const *vals, PGresult **res, struct pw_errbuf *err)
{
    return pg_query_as(c, what, sql, n, &(struct pg_params){vals, NULL, NULL}, false, 0, res, err);
}

enum pw_err pg_query_binary(struct pg_conn *c, const char *what, const char *sql, int n,
                            const char *const *vals, PGresult **res, struct pw_errbuf *err)
{
    return pg_query_as(c, what, sql, n, &(struct pg_params){vals, NULL, NULL}, false, 1, res, err);
}

enum pw_err pg_query_params(struct pg_conn *c, const char *what, const char *sql, int n,
                            const struct pg_params *ps, bool planned, bool binary,
                            PGresult **res, struct pw_errbuf *err)
{
    return pg_query_as(c, what, sql, n, ps, planned, binary, res, err);
}

int64_t pg_int(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* A binary column's bytes, big-endian, as an unsigned number. */
static uint64_t pg_bin_be(const PGresult *res, int row, int col)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(res, row, col);
    uint64_t v = 0;
    for (int i = 0, n = PQgetlength(res, row, col); i < n && i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

int64_t pg_bin_int(const PGresult *res, int row, int col)
{
    uint64_t v = pg_bin_be(res, row, col);
    switch (PQgetlength(res, row, col)) {
    case 2:
        return (int16_t)(uint16_t)v;
    case 4:
        return (int32_t)(uint32_t)v;
    default:
        return (int64_t)v;
    }
}

pw_time pg_bin_time(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return PW_TIME_NONE;
    int64_t v = (int64_t)pg_bin_be(res, row, col);
    /* 'infinity' is INT64_MAX (and nothing we write comes near it): kept, not overflowed. */
    return v > INT64_MAX - PG_EPOCH_US ? INT64_MAX : v + PG_EPOCH_US;
}

enum pw_err pg_err_of(const char *name)
{
    for (int code = 0; code < PW_E__COUNT; code++)
        if (strcmp(pw_err_name((enum pw_err)code), name) == 0)
            return (enum pw_err)code;
    return PW_E_FATAL;
}

uint64_t pg_lsn(const char *text)
{
    unsigned long hi = 0, lo = 0;
    if (sscanf(text, "%lx/%lx", &hi, &lo) != 2)
        return 0;
    return (uint64_t)hi << 32 | (uint64_t)(lo & 0xffffffffUL);
}
