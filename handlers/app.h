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
    unsigned max_attempts;    /* runs of a message that died before it is given up; 0: 3 */
};

/*
 * The attempts this process counted last, one position per partition
 * (handlers/attempts.c): running a batch again in the same process, after
 * a transient failure, is not a new attempt, so it is not counted again.
 */
struct pw_attempts {
    char group[256], topic[PW_TOPIC_MAX + 1]; /* of every position in v */
    bool bound;                               /* group and topic are set */
    struct pw_attempt *v;
    size_t n, cap;
    struct pw_attempt *scratch; /* a batch's positions */
    size_t cap_scratch;
    /*
     * A pass one message at a time that a transient failure cut short: the
     * same batch run again in this process goes on from next, neither
     * counting its start again nor rerunning what is done.
     */
    struct {
        bool set;
        int32_t partition;
        int64_t offset; /* of the batch's first message */
        size_t n, next;
        unsigned seed;
        bool counted;
    } resume;
};

/*
 * Counts a run of in[0..n) starting at the first position of each of its
 * partitions (as pw_uow_attempts_start, through the memo); *tries is the
 * highest count among them.
 */
enum pw_err pw_attempts_batch(struct pw_attempts *m, struct pw_uow *uow,
                              const struct pw_input *in, size_t n, unsigned *tries,
                              struct pw_errbuf *err);

/* Counts a run of the one message at o starting; seed is its count if the position is new. */
enum pw_err pw_attempts_one(struct pw_attempts *m, struct pw_uow *uow, const struct pw_origin *o,
                            unsigned seed, unsigned *tries, struct pw_errbuf *err);

void pw_attempts_release(struct pw_attempts *m);

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
    unsigned max_attempts;
    struct pw_attempts attempts;
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
 * The service's run (ports/service.h): the attempt counted, then
 * pw_dispatch_batch; one message at a time when a run at this position
 * died before, or when the batch fails because a command's data was
 * refused (a code of kind PW_KIND_FAILED). Any other failure is returned as
 * from pw_dispatch_batch (commands already applied one at a time stay
 * applied, and are duplicates when the batch is run again).
 */
enum pw_err pw_dispatch_run(struct pw_app *app, struct pw_input *in, size_t n,
                            pw_decode_fn decode, const struct pw_offset *offsets,
                            size_t noffsets, struct pw_outcome *outs, struct pw_errbuf *err);

#endif
