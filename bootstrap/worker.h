/*
 * The worker assembled: the loop (handlers/loop.h) on a Kafka source, the
 * system's clock and an application's service.
 */
#ifndef PW_BOOTSTRAP_WORKER_H
#define PW_BOOTSTRAP_WORKER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "adapters/kafka/settings.h"
#include "handlers/loop.h"
#include "ports/metrics.h"
#include "ports/service.h"

struct pw_worker_opts {
    const struct pw_kafka_settings *settings;
    size_t batch_size;       /* messages per unit of work */
    int batch_wait_ms;       /* the longest a batch waits to fill once it has one message */
    enum pw_kafka_start start;
    int64_t start_offset;    /* PW_START_OFFSET */
    int64_t start_time_ms;   /* PW_START_TIME, milliseconds since the epoch */
    volatile sig_atomic_t *stop; /* set (by a signal handler) to stop cleanly */
    int wait_repeat_ms;      /* while a dependency is down, say so again this often; 0: a minute */
    struct pw_loop_stats *stats; /* may be NULL */
    struct pw_metrics *metrics;  /* what it counts, for --http; may be NULL */
    int prefetch_kbytes;     /* the consumer's prefetch (source_kafka.h); 0: its default */
    pw_log_fields_fn log_fields; /* lines about one message, with its fields; may be NULL */
};

/*
 * Runs until *opts->stop is set (PW_START_GROUP) or until the end of the
 * topic as it was at start (a replay); svc is borrowed. On a stop it
 * finishes the batch in hand, relays its events, commits its offsets,
 * leaves the group and returns PW_OK. A dependency that is down is waited
 * for; only a fatal error returns early.
 */
enum pw_err pw_worker_run(const struct pw_worker_opts *opts, struct pw_service *svc,
                          struct pw_errbuf *err);

#endif
