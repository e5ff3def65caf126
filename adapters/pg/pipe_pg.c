/*
 * Statements sent in libpq's pipeline mode, their results read later: a
 * unit of work's last writes and its COMMIT go out in one message and the
 * worker turns to its next batch while the server writes and flushes them
 * (uow_pg.c, commit_send). One pipeline at a time on a connection, and
 * nothing else on it until pg_pipe_settle has read it.
 */
#include "adapters/pg/conn.h"

#include <stdio.h>
#include <string.h>

enum pw_err pg_pipe_send(struct pg_conn *c, const char *what, const char *sql, int n,
                         const struct pg_params *ps, struct pw_errbuf *err)
{
    if (!c->pg)
        return pw_err_set(err, PW_E_TRANSIENT, "%s: not connected to the database", what);
    if (PQpipelineStatus(c->pg) == PQ_PIPELINE_OFF && !PQenterPipelineMode(c->pg)) {
        pw_err_set(err, PW_E_TRANSIENT, "%s: cannot start a pipeline: %s", what,
                   PQerrorMessage(c->pg));
        pg_disconnect(c); /* the transaction it had open is rolled back with the session */
        return PW_E_TRANSIENT;
    }
    int i = 0;
    while (i < c->nprepared && c->prepared[i] != sql)
        i++;
    char name[16];
    snprintf(name, sizeof name, "pw%d", i);
    bool sent = true;
    if (i == c->nprepared && i < PG_MAX_PREPARED) { /* prepared in the pipeline, before its use */
        sent = PQsendPrepare(c->pg, name, sql, n, NULL);
        c->piped += sent;
        if (sent)
            c->prepared[c->nprepared++] = sql;
    }
    if (i == PG_MAX_PREPARED)
        sent = PQsendQueryParams(c->pg, sql, n, NULL, ps->vals, ps->lens, ps->fmts, 0);
    else if (sent)
        sent = PQsendQueryPrepared(c->pg, name, n, ps->vals, ps->lens, ps->fmts, 0);
    if (!sent) {
        pw_err_set(err, PW_E_TRANSIENT, "%s: %s", what, PQerrorMessage(c->pg));
        pg_disconnect(c); /* a half-sent pipeline: the server rolls it back */
        return PW_E_TRANSIENT;
    }
    c->tagged[0] = c->tagged[1];
    c->tagged[1] = c->piped++;
    return PW_OK;
}

enum pw_err pg_pipe_sync(struct pg_conn *c, struct pw_errbuf *err)
{
    if (c->pg && PQpipelineSync(c->pg) == 1)
        return PW_OK;
    pw_err_set(err, PW_E_TRANSIENT, "sending a pipeline: %s",
               c->pg ? PQerrorMessage(c->pg) : "not connected");
    pg_disconnect(c);
    return PW_E_TRANSIENT;
}

bool pg_pipe_open(const struct pg_conn *c)
{
    return c->pg && PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF;
}

/* A statement's result: a failure's message into err (the rest of the pipeline is then void). */
static enum pw_err pg_pipe_result(PGresult *r, const char *last_tag, bool tagged,
                                  struct pw_errbuf *err)
{
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s", r ? PQresultErrorMessage(r) : "no result");
        msg[strcspn(msg, "\n")] = '\0';
        return pw_err_set(err, PW_E_TRANSIENT, "%s", msg[0] ? msg : PQresStatus(st));
    }
    /* A COMMIT of a transaction that had failed answers ROLLBACK. */
    if (tagged && last_tag && strcmp(PQcmdStatus(r), last_tag) != 0)
        return pw_err_set(err, PW_E_TRANSIENT, "the last statement answered %s, not %s",
                          PQcmdStatus(r), last_tag);
    return PW_OK;
}

enum pw_err pg_pipe_settle(struct pg_conn *c, const char *last_tag, PGresult **tail,
                           struct pw_errbuf *err)
{
    if (tail)
        *tail = NULL;
    if (!pg_pipe_open(c)) {
        c->piped = 0;
        return PW_OK;
    }
    enum pw_err rc = PW_OK;
    int tagged = c->tagged[tail ? 0 : 1]; /* a prepare may come between the two */
    for (int i = 0; i < c->piped && !rc; i++) {
        PGresult *r = PQgetResult(c->pg);
        rc = pg_pipe_result(r, last_tag, i == tagged, err);
        if (r) /* each statement's results end with a NULL */
            PQclear(PQgetResult(c->pg));
        if (!rc && tail && i == c->piped - 1 && PQntuples(r) == 1) {
            *tail = r;
            r = NULL;
        }
        PQclear(r);
    }
    if (!rc && tail && !*tail)
        rc = pw_err_set(err, PW_E_TRANSIENT, "the pipeline's last statement returned no row");
    c->piped = 0;
    PGresult *sync = rc ? NULL : PQgetResult(c->pg);
    if (!rc && PQresultStatus(sync) != PGRES_PIPELINE_SYNC)
        rc = pw_err_set(err, PW_E_TRANSIENT, "the pipeline did not end in its sync");
    PQclear(sync);
    if (rc || !PQexitPipelineMode(c->pg)) {
        if (!rc)
            rc = pw_err_set(err, PW_E_TRANSIENT, "cannot leave the pipeline: %s",
                            PQerrorMessage(c->pg));
        pg_disconnect(c); /* whatever was open is rolled back with the session */
    }
    if (rc && tail) {
        PQclear(*tail);
        *tail = NULL;
    }
    return rc;
}
