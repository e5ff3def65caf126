/*
 * The application: the registry of use cases, the dispatcher that runs a
 * batch of messages through them in one unit of work, and the relay that
 * publishes what committed. pw_app_open assembles it on its ports, the same
 * way for bootstrap and for every test world; pw_app_service hands it to a
 * driving adapter as the inbound port (ports/service.h).
 */
#ifndef PW_HANDLERS_APP_H
#define PW_HANDLERS_APP_H

#include <stddef.h>
#include <stdint.h>

#include "handlers/registry.h"
#include "handlers/relay.h"
#include "ports/bus.h"
#include "ports/ids.h"
#include "ports/outbox.h"
#include "ports/service.h"
#include "ports/uow.h"

/* The ports an application runs on; all borrowed, and living longer than it. */
struct pw_app_ports {
    struct pw_uow *uow;
    struct pw_outbox *outbox;
    struct pw_bus *bus;
    struct pw_ids *ids;
};

struct pw_app_config {
    const char *events_topic; /* where events go; borrowed */
    const char *dlq_topic;    /* where dead letters go; borrowed */
    size_t relay_batch;       /* rows per relay round; 0: a default */
    int flush_timeout_ms;     /* the longest the relay waits for the bus; -1: until settled */
};

/*
 * The fields are public so that a test can swap a port for a wrapped one
 * (uow = a fault wrapper) or empty the registry.
 */
struct pw_app {
    struct pw_registry reg;
    struct pw_uow *uow;
    struct pw_ids *ids;
    const char *events_topic;
    const char *dlq_topic;
    struct pw_relay relay;
};

/* Assembles app on ports with the post use cases registered. PW_E_NOMEM on failure. */
enum pw_err pw_app_open(struct pw_app *app, const struct pw_app_ports *ports,
                        const struct pw_app_config *cfg);

/* Frees what app holds (not its ports); safe on a zeroed app. */
void pw_app_close(struct pw_app *app);

/* The inbound port on app, which must outlive it. */
struct pw_service pw_app_service(struct pw_app *app);

/* "applied", "duplicate", "rejected", "retry". */
const char *pw_outcome_kind_name(enum pw_outcome_kind kind);

/*
 * Runs in[0..n) in one unit of work, as the service's run (ports/service.h)
 * says: outs[0..n) need no initialisation.
 */
enum pw_err pw_dispatch_batch(const struct pw_app *app, const struct pw_input *in, size_t n,
                              const struct pw_offset *offsets, size_t noffsets,
                              struct pw_outcome *outs, struct pw_errbuf *err);

/*
 * The service's run: pw_dispatch_batch, and when the batch fails because a
 * command's data was refused (a code of kind PW_KIND_FAILED), the batch
 * again one command at a time. The command that still fails is
 * dead-lettered with apply_failed and the cause, and not marked processed;
 * the rest are applied. Any other failure is returned as from
 * pw_dispatch_batch (commands already applied one at a time stay applied,
 * and are duplicates when the batch is run again).
 */
enum pw_err pw_dispatch_run(const struct pw_app *app, const struct pw_input *in, size_t n,
                            const struct pw_offset *offsets, size_t noffsets,
                            struct pw_outcome *outs, struct pw_errbuf *err);

#endif
