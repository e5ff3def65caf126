/* The stores behind the ports: PostgreSQL with DATABASE_URL, else in memory. */
#ifndef PW_BOOTSTRAP_STORES_H
#define PW_BOOTSTRAP_STORES_H

#include <signal.h>

#include "adapters/inmem/inmem.h"
#include "adapters/pg/pg.h"
#include "bootstrap/config.h"
#include "ports/metrics.h"

struct pw_stores {
    struct pw_inmem_store *mem;
    struct pw_pg_store *pg;
    struct pw_uow uow;
    struct pw_store store;
    struct pw_outbox outbox;
    struct pw_store prune; /* the inbox's retention's own handle (bootstrap/prune.h) */
};

/*
 * Opens the store cfg names, each port on a handle of its own; on
 * PostgreSQL after the migrations, waiting for a database that is not up
 * (metrics show the wait; *stop ends it). On failure, pw_stores_close
 * still frees what was opened.
 */
enum pw_err pw_stores_open(struct pw_stores *st, const struct pw_config *cfg,
                           struct pw_metrics *metrics, volatile sig_atomic_t *stop,
                           struct pw_errbuf *err);
void pw_stores_close(struct pw_stores *st);

#endif
