/*
 * The application: the registry of use cases, the dispatcher that runs a
 * batch of messages through them in one unit of work, the failure path
 * that finds what cannot be applied, and the relay that publishes what
 * committed. pw_app_open assembles it on its ports, the same way for
 * bootstrap and for every test world; pw_app_service hands it to a driving
 * adapter as the inbound port (ports/service.h).
 */
#ifndef PW_HANDLERS_APP_H
#define PW_HANDLERS_APP_H

#include <stddef.h>
#include <stdint.h>

#include "handlers/registry.h"
#include "handlers/relay.h"
#include "handlers/runs.h"
#include "ports/bus.h"
#include "ports/ids.h"
#include "ports/outbox.h"
#include "ports/service.h"
#include "ports/store.h"
#include "ports/uow.h"

/* The ports an application runs on; all borrowed, and living longer than it. */
struct pw_app_ports {
    struct pw_uow *uow;
    struct pw_store *store;
    struct pw_outbox *outbox;
    struct pw_bus *bus;
    struct pw_ids *ids;
};

struct pw_app_config {
    const char *events_topic; /* where events go; borrowed */
    const char *dlq_topic;    /* where dead letters go; borrowed */
    size_t relay_batch;       /* rows per relay round; 0: a default */
    size_t drain_batch;       /* held commands per drain call; 0: a default */
    int flush_timeout_ms;     /* the longest the relay waits for the bus; -1: until settled */
    unsigned max_attempts;    /* deaths of a message run alone before it is given up; 0: 3 */
    uint64_t instance;        /* this process's, at random, for its runs' tokens; 0: one is made */
};

/*
 * The failure path's state (handlers/isolate.c), about one batch: which of
 * its messages are finished and how, whether the rest runs one message at
 * a time, and how often the current run was cut off by the store.
 */
struct pw_isolation {
    uint64_t seq;              /* the batch it is about; 0 none */
    size_t n, cap;
    unsigned char *done;       /* per message: finished (in a part of the batch run on its own) */
    struct pw_outcome *outs;   /* the outcomes of those, for a rerun after a failure */
    size_t *idx;               /* scratch: the messages of a run, in order */
    struct pw_input *in;       /* scratch: a run's inputs gathered */
    struct pw_outcome *run_outs;
    bool alone;                /* the rest runs one message at a time: a run of it died */
    bool resolved;             /* a parked post's failed command was applied or rejected */
    unsigned cut;              /* the current run was cut off this many times in a row */
    size_t cut_first, cut_n;   /* which run that is: its first message and length */
    unsigned declared;         /* deaths declared for the current one-message run, uncounted */
    bool send;                 /* the whole batch's commit need not wait (pw_isolate_run) */
};

/* What the last drain ran (handlers/drain.c): borrowed by the caller until the next. */
struct pw_drained {
    struct pw_held *held;
    struct pw_input *in;
    struct pw_outcome *outs;
    size_t n, cap;
};

/*
 * The fields are public so that a test can swap a port for a wrapped one
 * (uow = a fault wrapper) or empty the registry.
 */
struct pw_app {
    struct pw_registry reg;
    struct pw_uow *uow;
    struct pw_store *store;
    struct pw_ids *ids;
    const char *events_topic;
    const char *dlq_topic;
    struct pw_relay relay;
    unsigned max_attempts;
    struct pw_runs runs;
    struct pw_isolation iso;
    struct pw_drained drained;
};

/* Assembles app on ports with the post use cases registered. PW_E_NOMEM on failure. */
enum pw_err pw_app_open(struct pw_app *app, const struct pw_app_ports *ports,
                        const struct pw_app_config *cfg);

/* Frees what app holds (not its ports); safe on a zeroed app. */
void pw_app_close(struct pw_app *app);

/* The inbound port on app, which must outlive it. */
struct pw_service pw_app_service(struct pw_app *app);

/* "applied", "duplicate", "rejected", "held", "retry". */
const char *pw_outcome_kind_name(enum pw_outcome_kind kind);

/*
 * Runs in[0..n) in one unit of work, storing offsets[0..noffsets) with
 * them; outs[0..n) need no initialisation. PW_OK: committed, each outcome
 * applied, duplicate, rejected or held; *resolved (may be NULL) set when a
 * parked post's failed command was applied or rejected. Any other code: it
 * rolled back, and every outcome is RETRY. Inputs must be decoded (ready).
 * No offsets (a replay): a malformed message below its partition's stored
 * offset is a duplicate, dead-lettered when the store passed it.
 * send: the commit does not wait for its end (pw_uow_commit_send): PW_OK
 * then means sent, and the next transaction's begin, or pw_uow_settle,
 * tells what became of it.
 */
enum pw_err pw_dispatch_batch(struct pw_app *app, const struct pw_input *in, size_t n,
                              const struct pw_offset *offsets, size_t noffsets, bool send,
                              struct pw_outcome *outs, bool *resolved, struct pw_errbuf *err);

/*
 * Sets in aside as code (kind failed) with cause, in a transaction of its
 * own: its dead letter (attempts, and the post it parks), its post parked
 * behind it, offsets[0..noffsets), and for a held command its place in its
 * queue given up. Not marked processed, so that it runs once its cause is
 * fixed. *out becomes the rejection.
 */
enum pw_err pw_dispatch_set_aside(struct pw_app *app, const struct pw_input *in, enum pw_err code,
                                  const char *cause, unsigned attempts,
                                  const struct pw_offset *offsets, size_t noffsets,
                                  struct pw_outcome *out, struct pw_errbuf *err);

/*
 * The service's run (ports/service.h): the batch, and the failure path when
 * it fails. send: the whole batch's commit may be on its way when it returns
 * (the loop's batches); a part of one, and every run with send false, waits.
 */
enum pw_err pw_isolate_run(struct pw_app *app, struct pw_batch *b, bool send,
                           struct pw_errbuf *err);
void pw_isolation_release(struct pw_isolation *iso);

/* The service's drain (ports/service.h). */
enum pw_err pw_drain(struct pw_app *app, pw_decode_fn decode, const struct pw_input **in,
                     const struct pw_outcome **outs, size_t *n, struct pw_errbuf *err);
void pw_drained_release(struct pw_drained *d);

#endif
