/*
 * The in-memory adapters: the reference implementation of the store ports
 * and the message bus, and the fakes that tests build worlds from.
 *
 * A store is the shared state (posts, inbox, outbox, offsets, parking)
 * that several units of work, store ports and outbox readers can be opened
 * on, as several connections are opened on one database. It lives until
 * pw_inmem_store_free, which must come after every handle opened on it is
 * closed.
 */
#ifndef PW_ADAPTERS_INMEM_INMEM_H
#define PW_ADAPTERS_INMEM_INMEM_H

#include <stddef.h>

#include "domain/err.h"
#include "ports/bus.h"
#include "ports/outbox.h"
#include "ports/query.h"
#include "ports/store.h"
#include "ports/uow.h"

struct pw_inmem_store;

/* A new empty store, or NULL when memory runs out. */
struct pw_inmem_store *pw_inmem_store_new(void);
void pw_inmem_store_free(struct pw_inmem_store *store);

/* Opens a unit of work (one "connection") on store. PW_E_NOMEM on failure. */
enum pw_err pw_inmem_uow_open(struct pw_uow *uow, struct pw_inmem_store *store);

/* Opens the store port (ports/store.h) on store. PW_E_NOMEM on failure. */
enum pw_err pw_inmem_store_open(struct pw_store *port, struct pw_inmem_store *store);

/* Opens the read side (ports/query.h) on store, safe to share between threads. */
enum pw_err pw_inmem_query_open(struct pw_query *port, struct pw_inmem_store *store);

/* Opens the outbox's read side on store. PW_E_NOMEM on failure. */
enum pw_err pw_inmem_outbox_open(struct pw_outbox *outbox, struct pw_inmem_store *store);

/* Opens a bus that keeps every message published and flushed, in order. */
enum pw_err pw_inmem_bus_open(struct pw_bus *bus);

/*
 * Opens a bus that acknowledges every message and sends it nowhere: a
 * replay with --no-publish rebuilds the state and publishes nothing.
 */
void pw_discard_bus_open(struct pw_bus *bus);

/*
 * What an in-memory bus has delivered (flushed), oldest first: every row
 * with its topic, or just the events; borrowed until the next publish,
 * flush or close. bus must be an inmem bus.
 */
const struct pw_out *pw_inmem_bus_delivered(const struct pw_bus *bus, size_t *n);
const struct pw_event *pw_inmem_bus_events(const struct pw_bus *bus, size_t *n);

#endif
