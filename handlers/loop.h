/*
 * The worker loop: one thread that fetches a batch of commands from the
 * source (ports/source.h), runs it through the application
 * (ports/service.h), publishes what committed and commits the batch's
 * offsets, until asked to stop. Time (its waits, its deadlines) comes from
 * the clock port, so that the simulator (tests/sim) runs this very loop in
 * virtual time.
 *
 * The path of a batch: fetch up to batch_size messages (waiting at most
 * batch_wait_ms after the first); the application decodes them (malformed
 * ones included) and runs them in one unit of work, recording events and
 * dead letters in the outbox with the processed marks and the partitions'
 * next offsets; then publish.
 *
 * Publishing overlaps the next batch. After batch N commits, the loop asks
 * the application to confirm the round in flight and send batch N's rows
 * without waiting (PW_PUBLISH_START), keeps N's offsets pending, and goes
 * on to fetch and run batch N+1 while the broker acknowledges. The next
 * publish call confirms N's round, and only then are N's offsets committed
 * to the source: by the service's acknowledgement rule, an offset is
 * committed only once every outcome before it is durable and published.
 * When idle, on a revocation and on a stop it publishes everything and
 * waits (PW_PUBLISH_ALL).
 *
 * A dependency that is down stalls the batch with capped exponential
 * backoff (ports/backoff.h), never skips it: the same batch (the same seq
 * for the service) runs again, and what it finished stays finished.
 *
 * On assignment each partition starts at the offset stored with the data,
 * the truth wherever one exists; the source's committed offset only where
 * the store has none. On revocation the loop publishes everything and
 * commits what is confirmed, while the partitions are still its own.
 */
#ifndef PW_HANDLERS_LOOP_H
#define PW_HANDLERS_LOOP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ports/clock.h"
#include "ports/log.h"
#include "ports/metrics.h"
#include "ports/service.h"
#include "ports/source.h"

/* Counters of a run, for logs, tests and the benchmark. */
struct pw_loop_stats {
    uint64_t consumed, applied, duplicates, rejected, dead_letters, held, published, batches;
    uint64_t seq; /* the last batch's number (pw_loop_config.seq) */
};

/* The ports a loop drives; borrowed, and living longer than it. */
struct pw_loop_ports {
    struct pw_source *source;
    struct pw_service *svc;
    struct pw_clock *clock;
};

struct pw_loop_config {
    const char *group;       /* the consumer group, whose stored offsets it reads; borrowed */
    size_t batch_size;       /* messages per unit of work; 0: 1 */
    int batch_wait_ms;       /* the longest a batch waits to fill once it has one message */
    bool replay;             /* read to the source's end, storing no offsets with the data */
    volatile sig_atomic_t *stop; /* set (by a signal handler) to stop cleanly */
    int wait_repeat_ms;      /* while a dependency is down, say so again this often; 0: a minute */
    struct pw_metrics *metrics; /* what it counts, for --http; may be NULL */
    pw_log_fn log;           /* may be NULL */
    pw_log_fields_fn log_fields; /* the lines about one message, with its fields; may be NULL */
    /*
     * Batches are numbered from seq + 1: a loop on a service an earlier
     * loop used starts after that one's last (its stats' seq), so that the
     * service never takes a new batch for an old one run again.
     */
    uint64_t seq;
};

struct pw_loop;

/*
 * A loop on ports, listening to the source's assignment changes from now
 * on. PW_E_NOMEM on failure (*loop NULL).
 */
enum pw_err pw_loop_open(struct pw_loop **loop, const struct pw_loop_ports *ports,
                         const struct pw_loop_config *cfg, struct pw_errbuf *err);

/*
 * One step of the loop: a fetch, one try of a batch, one publish call, a
 * round of held commands, or a backoff wait after a failure; it returns
 * between any two, so that the simulator can interleave workers and stop
 * one anywhere. PW_OK, also once done; any other code is fatal (a store
 * that refuses for good, a source that failed for good): the loop is done
 * and what it did not finish is redelivered.
 */
enum pw_err pw_loop_step(struct pw_loop *loop, struct pw_errbuf *err);

/* The loop has ended: a stop was finished (its last rows published and their offsets committed), or a replay's end. */
bool pw_loop_done(const struct pw_loop *loop);

void pw_loop_stats(const struct pw_loop *loop, struct pw_loop_stats *stats);

/* Stops listening to the source and frees the loop (not its ports); safe on NULL. */
void pw_loop_close(struct pw_loop *loop);

/*
 * A stop's last word to the service: pw_service_finish (its last commit
 * settled, its runs recorded as ended alive, so that the next worker counts
 * no death for them), tried again with backoff while the store fails
 * transiently or reports the loss of a commit on its way, for
 * PW_LOOP_FINISH_MS of clock (a try under way may add the store's own
 * timeouts). Not stopped by a stop: it is the stop. Returns the last try's
 * answer, err set when it failed.
 */
#define PW_LOOP_FINISH_MS 5000
enum pw_err pw_loop_finish_service(struct pw_service *svc, struct pw_clock *clock,
                                   struct pw_errbuf *err);

/*
 * Steps a loop until it is done or fails: until *cfg->stop, or the end of
 * a replay. On a stop it finishes the batch in hand, publishes its events
 * and commits its offsets. A dependency that is down is waited for; only a
 * fatal error returns early. stats (may be NULL) gets the counts.
 */
enum pw_err pw_loop_run(const struct pw_loop_ports *ports, const struct pw_loop_config *cfg,
                        struct pw_loop_stats *stats, struct pw_errbuf *err);

#endif
