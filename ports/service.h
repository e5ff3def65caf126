/*
 * Inbound port: what a driving adapter (the Kafka worker) asks of the
 * application. Run a batch of messages in one unit of work, publish what
 * committed, and say where a partition's stored position is. handlers/
 * implements it (struct pw_app); the adapter never sees a handler, a
 * registry or a relay, and the application never calls back into the
 * adapter.
 *
 * A run that returns PW_OK may have its commit still on its way (when its
 * batch says overlap, and the store's unit of work does not wait,
 * ports/uow.h): it has committed by the time the next run, drain,
 * publish(PW_PUBLISH_ALL), finish or position returns PW_OK; if it did
 * not, that call fails with
 * PW_E_LOST_COMMITS (kind fatal), and the adapter reads its partitions
 * again from the offsets stored with the data.
 *
 * The acknowledgement rule, which the adapter's offset commits rest on:
 * when publish(PW_PUBLISH_ALL) returns PW_OK, every row of every run before
 * the call has been acknowledged by the bus. When publish(PW_PUBLISH_START)
 * returns PW_OK with more false, every row committed before the previous
 * publish call has been (even if that call failed); its own round is on its
 * way, and the next call confirms it. So an adapter that keeps the offsets
 * of the batch run before a START call may commit them once the second
 * START call after it returns PW_OK: the next run commits the batch, the
 * first call publishes its rows, the second confirms them. "Acknowledged"
 * includes "durable in an outbox that another
 * worker's relay publishes": only one relay publishes at a time, and a
 * worker that is not it publishes nothing and waits for nothing.
 */
#ifndef PW_PORTS_SERVICE_H
#define PW_PORTS_SERVICE_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain/command.h"
#include "domain/err.h"
#include "domain/event.h"
#include "ports/message.h"
#include "ports/parking.h"
#include "ports/store.h"

/*
 * One message of a batch as the driving adapter decoded it: origin is the
 * message (borrowed for the call), decoded.code PW_OK with cmd the command,
 * or the reason it is malformed or unsupported, with cmd zeroed.
 */
struct pw_input {
    struct pw_origin origin;
    uint64_t held; /* a held command run by a drain: its place (struct pw_held); else 0 */
    unsigned held_deaths; /* a held command's deaths before it was held (struct pw_held) */
    bool ready; /* decoded: decoded and cmd are filled in */
    struct pw_errbuf decoded;
    struct pw_cmd cmd;
};

/*
 * The driving adapter's codec: fills in->decoded and in->cmd from
 * in->origin (a malformed message is an input too, with the reason in
 * decoded). The application calls it at most once per input, after it has
 * counted the attempt, so that a message that kills the decoder is given up
 * on like any other.
 */
typedef void (*pw_decode_fn)(struct pw_input *in);

enum pw_outcome_kind {
    PW_OUTCOME_APPLIED,   /* state changed; events recorded in the outbox */
    PW_OUTCOME_DUPLICATE, /* (source, id) was processed before; nothing done */
    PW_OUTCOME_REJECTED,  /* dead-lettered: malformed, unsupported, refused by a rule, failed */
    PW_OUTCOME_HELD,      /* its post is parked: held behind the command that failed */
    PW_OUTCOME_RETRY,     /* the batch did not commit; nothing was kept */
};

/*
 * What became of one message: just what its consumers (logs, counters)
 * need. err.code is the rejection's code, or for a duplicate the outcome
 * first recorded (PW_OK for applied). event and version are the first
 * event's, for an applied command.
 */
struct pw_outcome {
    enum pw_outcome_kind kind;
    struct pw_errbuf err;
    unsigned nevents;
    enum pw_event_type event;
    int64_t version;
};

/* A consumer position to store in the same transaction: next is the next offset to read. */
struct pw_offset {
    const char *group;
    const char *topic;
    int32_t partition;
    int64_t next;
};

enum pw_publish_mode {
    PW_PUBLISH_ALL,   /* publish everything committed and wait for it */
    PW_PUBLISH_START, /* confirm the round in flight, send one more, do not wait */
};

struct pw_publish_result {
    size_t confirmed; /* rows acknowledged and removed by this call */
    size_t events;    /* how many of them were events (the rest: dead letters) */
    bool more;        /* START: the round was full; the outbox may hold more */
    bool bus_failed;  /* on failure: the bus (the broker) failed, not the store */
};

/*
 * A batch as the driving adapter hands it over: its messages in order
 * (in[0..n), each partition's in offset order), the codec for those not
 * decoded yet (NULL: every input is ready), the positions to store with
 * them, and its identity.
 */
struct pw_batch {
    /*
     * Which batch this is, never 0: the same seq again is the same batch,
     * run again by the same process after a failure (what it finished then
     * stays finished); a new batch takes a new seq.
     */
    uint64_t seq;
    struct pw_input *in;
    size_t n;
    pw_decode_fn decode;
    const struct pw_offset *offsets; /* none (a replay): the run is neither stored nor counted */
    size_t noffsets;
    struct pw_outcome *outs; /* out: n outcomes */
    /*
     * More waits behind it (a full batch): its commit may still be on its
     * way when run returns, overlapping the next batch (above). Otherwise
     * run waits for it, so that a stream that is caught up sees its events
     * at once.
     */
    bool overlap;
    bool resolved; /* out: a parked post's failed command was applied or rejected: drain next */
};

/* The store's depths, for the metrics; -1 where not known. */
struct pw_service_stats {
    int64_t outbox_pending;      /* rows: events and dead letters */
    int64_t outbox_dead_letters; /* of them, dead letters */
    int64_t outbox_oldest_ms;
    struct pw_parking_stats parking;
};

struct pw_service_ops {
    const char *name;
    /*
     * Runs b's messages in order and fills b->outs. PW_OK: each outcome is
     * applied, duplicate, rejected or held, and committed (or its commit on
     * its way: see above); a rejected
     * message's dead letter committed with it (and a rejected command's
     * processed mark); a held command is held with the data behind its
     * parked post, and its offset stored.
     *
     * What no rule refuses but cannot be applied is found and set aside,
     * never retried forever: a command the store refused (a constraint, a
     * value it cannot hold) is found by running halves of the batch, then
     * halves of those, and is dead-lettered apply_failed (kind failed), not
     * marked processed, and parks its post. When offsets are given, each run
     * is counted with the data first (ports/store.h): after a run that died
     * (its process was killed), the batch runs one message at a time, a
     * message whose runs alone died max_attempts times first; that one is
     * dead-lettered max_attempts, undecoded, and parks its post (named by
     * its key). A run whose statements the store keeps cutting off
     * (statement_timeout) counts as one that died. Each
     * message run alone stores its own offset.
     *
     * Any other code: every outcome is RETRY, and the caller runs the same
     * batch (the same seq) again, after a backoff if pw_err_is_transient,
     * else it stops; what was finished stays finished, and is not run or
     * counted again by the rerun.
     */
    enum pw_err (*run)(void *self, struct pw_batch *b, struct pw_errbuf *err);
    /*
     * Runs held commands whose post drains (its failed command was applied,
     * rejected or released), one at a time, oldest first, each counted like
     * a message run alone: up to a batch of them. *in and *outs (borrowed
     * until the next call) are their inputs and outcomes, *n how many; 0
     * when none waits. On failure *n counts those finished before it.
     */
    enum pw_err (*drain)(void *self, pw_decode_fn decode, const struct pw_input **in,
                         const struct pw_outcome **outs, size_t *n, struct pw_errbuf *err);
    /* Publishes committed rows as mode says (see the acknowledgement rule above). */
    enum pw_err (*publish)(void *self, enum pw_publish_mode mode, struct pw_publish_result *res,
                           struct pw_errbuf *err);
    /*
     * The outbox's depth and parking, for the metrics; queries of the
     * store, so also a probe of it (transient when it cannot be reached).
     */
    enum pw_err (*stats)(void *self, struct pw_service_stats *st, struct pw_errbuf *err);
    /*
     * The caller stops cleanly (a stop, the end of a replay): what it ran
     * and did not finish (a run that failed transiently) is recorded as
     * ended alive, so that the next worker to run it does not count it as
     * a death. Best effort: on failure, that next worker counts one.
     */
    enum pw_err (*finish)(void *self, struct pw_errbuf *err);
    /* The stored next offset of group's topic/partition, -1 if none. */
    enum pw_err (*position)(void *self, const char *group, const char *topic, int32_t partition,
                            int64_t *offset, struct pw_errbuf *err);
};

struct pw_service {
    const struct pw_service_ops *ops;
    void *self;
};

static inline enum pw_err pw_service_run(struct pw_service *svc, struct pw_batch *b,
                                         struct pw_errbuf *err)
{
    assert(b->seq != 0);
    b->resolved = false;
    return PW_PORT_CHECK(err, svc->ops->run(svc->self, b, err));
}

static inline enum pw_err pw_service_drain(struct pw_service *svc, pw_decode_fn decode,
                                           const struct pw_input **in,
                                           const struct pw_outcome **outs, size_t *n,
                                           struct pw_errbuf *err)
{
    *n = 0;
    return PW_PORT_CHECK(err, svc->ops->drain(svc->self, decode, in, outs, n, err));
}

static inline enum pw_err pw_service_publish(struct pw_service *svc, enum pw_publish_mode mode,
                                             struct pw_publish_result *res,
                                             struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, svc->ops->publish(svc->self, mode, res, err));
}

static inline enum pw_err pw_service_stats(struct pw_service *svc, struct pw_service_stats *st,
                                           struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, svc->ops->stats(svc->self, st, err));
}

static inline enum pw_err pw_service_finish(struct pw_service *svc, struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, svc->ops->finish(svc->self, err));
}

static inline enum pw_err pw_service_position(struct pw_service *svc, const char *group,
                                              const char *topic, int32_t partition,
                                              int64_t *offset, struct pw_errbuf *err)
{
    return PW_PORT_CHECK(err, svc->ops->position(svc->self, group, topic, partition, offset, err));
}

#endif
