/* The stores behind the ports (bootstrap/stores.h). */
#include "bootstrap/stores.h"

#include <stdatomic.h>
#include <string.h>

#include "bootstrap/log.h"
#include "ports/backoff.h"

/* Applies the migrations, waiting for a database that is not up yet. */
static enum pw_err migrate(struct pw_pg_store *pg, struct pw_metrics *metrics,
                           volatile sig_atomic_t *stop, struct pw_errbuf *err)
{
    int applied = 0;
    enum pw_err rc;
    for (unsigned attempt = 0; (rc = pw_pg_migrate(pg, &applied, err)) == PW_E_TRANSIENT; attempt++) {
        if (attempt == 0)
            pw_log("warn", "waiting for the database, retrying with backoff: %s", err->msg);
        atomic_store(&metrics->heartbeat_ms, pw_metrics_mono_ms()); /* waiting is not stuck */
        atomic_store(&metrics->dependency_up[PW_M_STORE], 0);
        if (!pw_backoff_sleep(attempt, stop))
            return rc;
    }
    if (!rc)
        pw_log("info", "database ready: %d migrations applied", applied);
    return rc;
}

enum pw_err pw_stores_open(struct pw_stores *st, const struct pw_config *cfg,
                           struct pw_metrics *metrics, volatile sig_atomic_t *stop,
                           struct pw_errbuf *err)
{
    memset(st, 0, sizeof *st);
    enum pw_err rc;
    if (cfg->database) {
        if ((rc = pw_pg_store_new(&st->pg, cfg->database, NULL, err)) || (rc = migrate(st->pg, metrics, stop, err)))
            return rc;
        if (strcmp(cfg->durability, "relaxed") == 0)
            pw_pg_store_relax(st->pg);
        if (pw_pg_uow_open(&st->uow, st->pg) || pw_pg_store_open(&st->store, st->pg) ||
            pw_pg_store_open(&st->prune, st->pg) ||
            pw_pg_outbox_open(&st->outbox, st->pg))
            return pw_err_set(err, PW_E_NOMEM, "out of memory opening the database store");
        pw_log("info", "store: PostgreSQL, durability %s", cfg->durability);
        return PW_OK;
    }
    st->mem = pw_inmem_store_new();
    if (!st->mem || pw_inmem_uow_open(&st->uow, st->mem) ||
        pw_inmem_store_open(&st->store, st->mem) ||
        pw_inmem_store_open(&st->prune, st->mem) || pw_inmem_outbox_open(&st->outbox, st->mem))
        return pw_err_set(err, PW_E_NOMEM, "out of memory opening the in-memory store");
    pw_log("info", "store: in memory (nothing is kept across restarts)");
    return PW_OK;
}

void pw_stores_close(struct pw_stores *st)
{
    pw_store_close(&st->prune);
    pw_outbox_close(&st->outbox);
    pw_store_close(&st->store);
    pw_uow_close(&st->uow);
    pw_inmem_store_free(st->mem);
    pw_pg_store_free(st->pg);
}

