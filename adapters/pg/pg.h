/*
 * The PostgreSQL adapters (libpq): the unit of work (posts, inbox, outbox,
 * offsets in one transaction) and the outbox reader for the relay, on a
 * store that knows how to reach the database.
 */
#ifndef PW_ADAPTERS_PG_PG_H
#define PW_ADAPTERS_PG_PG_H

#include "domain/err.h"
#include "ports/outbox.h"
#include "ports/query.h"
#include "ports/store.h"
#include "ports/uow.h"

struct pw_pg_store;

/*
 * A store for the database at url (a libpq URI or conninfo string); schema,
 * if not NULL, is put first on the search_path (tests isolate themselves so).
 * It does not connect: connections are made, and remade after a failure, by
 * the handles opened on it. PW_E_USAGE, with a message that never shows the
 * password, if url is not valid syntax.
 */
enum pw_err pw_pg_store_new(struct pw_pg_store **out, const char *url, const char *schema,
                            struct pw_errbuf *err);
void pw_pg_store_free(struct pw_pg_store *store);

/*
 * --durability relaxed, before any handle connects: the unit of work's
 * commits return without waiting for their flush (synchronous_commit off),
 * so a crash of the server may lose its last moments of commits; the
 * outbox reader then hands the bus only rows whose commit is on disk, so
 * that no event or dead letter ever runs ahead of the data. What was lost
 * is read again from the offsets stored with it, and applied again the
 * same way.
 */
void pw_pg_store_relax(struct pw_pg_store *store);

/*
 * Applies the migrations not yet applied, in order, each in its own
 * transaction, under an advisory lock so that workers starting together do
 * not race. *applied (may be NULL) counts them. Transient if the database
 * cannot be reached.
 */
enum pw_err pw_pg_migrate(struct pw_pg_store *store, int *applied, struct pw_errbuf *err);

/*
 * The database's ceiling for make bench (ceiling_pg.c): the worker's own
 * writes for n commands, batch at a time, pipelined and durable, in a
 * schema of its own that it drops; *seconds is how long they took.
 */
enum pw_err pw_pg_ceiling(const char *url, size_t n, size_t batch, double *seconds,
                          struct pw_errbuf *err);

/* The store port (ports/store.h) on its own connection. PW_E_NOMEM on failure. */
enum pw_err pw_pg_store_open(struct pw_store *port, struct pw_pg_store *store);

/* A unit of work on its own connection. PW_E_NOMEM on failure. */
enum pw_err pw_pg_uow_open(struct pw_uow *uow, struct pw_pg_store *store);

/*
 * The read side (ports/query.h), safe to share between threads: a pool of
 * PW_PG_QUERY_CONNS connections, made on demand, and one that listens for
 * commits. Works on a read replica too (its waits then poll). PW_E_NOMEM
 * on failure.
 */
#define PW_PG_QUERY_CONNS 4
/*
 * The longest a read statement may run (statement_timeout on the pool's
 * connections): a database that holds a read (a lock, a hang) gets a 503
 * from the listener before its 5 s bound on a request, and never keeps its
 * threads, which answer the probes too.
 */
#define PW_PG_QUERY_TIMEOUT_MS 3000
enum pw_err pw_pg_query_open(struct pw_query *port, struct pw_pg_store *store);

/* The outbox reader on its own connection. PW_E_NOMEM on failure. */
enum pw_err pw_pg_outbox_open(struct pw_outbox *outbox, struct pw_pg_store *store);

#endif
