/*
 * What the worker counts, as plain data that the parts which count (the
 * Kafka worker, the application) and the part which shows it (the HTTP
 * adapter) share. Every field is an atomic updated with relaxed order: on
 * the per-message path a count costs one atomic add, no lock and no
 * allocation. Readers see each value on its own, not a snapshot of all.
 */
#ifndef PW_PORTS_METRICS_H
#define PW_PORTS_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "domain/err.h"

/* postworker_commands_total's outcomes: enum suffix, label. */
#define PW_METRIC_OUTCOMES(X) \
    X(APPLIED, "applied")     \
    X(DUPLICATE, "duplicate") \
    X(REJECTED, "rejected")   \
    X(FAILED, "failed")       \
    X(MALFORMED, "malformed") \
    X(UNSUPPORTED, "unsupported") \
    X(HELD, "held")

enum pw_metric_outcome {
#define PW_M_OUTCOME_ENUM(suffix, label) PW_M_##suffix,
    PW_METRIC_OUTCOMES(PW_M_OUTCOME_ENUM)
#undef PW_M_OUTCOME_ENUM
    PW_M__OUTCOMES
};

enum pw_metric_retry { PW_M_RETRY_BATCH, PW_M_RETRY_PUBLISH, PW_M_RETRY_DEAD_LETTER, PW_M__RETRIES };
enum pw_metric_dependency { PW_M_KAFKA, PW_M_STORE, PW_M__DEPENDENCIES };

/* Upper bounds of the histograms' buckets, in seconds (then +Inf). */
#define PW_HISTOGRAM_BOUNDS \
    {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
#define PW_HISTOGRAM_NBOUNDS 15

struct pw_histogram {
    _Atomic uint64_t buckets[PW_HISTOGRAM_NBOUNDS + 1]; /* per bucket, not cumulative; last +Inf */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us; /* the sum of observations, in microseconds */
};

/* Partitions whose lag is kept (beyond it, the lag is not shown). */
#define PW_METRICS_MAX_PARTITIONS 1024

/* What librdkafka's statistics say of one client (statistics.interval.ms). */
#define PW_METRICS_MAX_BROKERS 8
enum pw_metric_client { PW_M_CONSUMER, PW_M_PRODUCER, PW_M__CLIENTS };
struct pw_client_stats {
    atomic_flag lock;   /* held while written or read: the statistics and the HTTP threads */
    bool known;         /* a report came */
    int nbrokers;
    struct {
        char name[96];  /* librdkafka's: "host:port/nodeid" */
        double rtt_s;   /* average round-trip time of its requests */
    } brokers[PW_METRICS_MAX_BROKERS];
    int64_t queue;      /* producer: messages waiting to be sent or acknowledged;
                         * consumer: messages fetched, not yet consumed */
};

struct pw_metrics {
    const char *version;      /* borrowed */
    const char *lag_topic;    /* borrowed: the commands topic */
    const char *group;        /* borrowed: the consumer group, a label of the lag; may be NULL */
    int64_t start_time_ms;    /* of the process */
    _Atomic uint64_t commands[PW_M__OUTCOMES];
    _Atomic uint64_t dead_letters[PW_E__COUNT]; /* by code; the kind follows from it */
    _Atomic uint64_t events_published;
    _Atomic uint64_t inbox_pruned; /* processed marks forgotten by the inbox's retention */
    _Atomic uint64_t retries[PW_M__RETRIES];
    _Atomic uint64_t assigns, revokes;
    struct pw_histogram batch_duration, command_latency;
    _Atomic int dependency_up[PW_M__DEPENDENCIES]; /* 1 up, 0 down, -1 not known yet */
    _Atomic int64_t heartbeat_ms; /* when the loop last turned, or waited with backoff (mono) */
    _Atomic int64_t progress_ms;  /* when a batch last ran to its end (mono) */
    _Atomic bool joined;          /* it had partitions assigned (or a replay's) */
    _Atomic int64_t lag[PW_METRICS_MAX_PARTITIONS]; /* -1: not this worker's partition */
    _Atomic int64_t assigned;  /* partitions this worker owns; -1 not known (a replay) */
    _Atomic int64_t outbox_pending;    /* rows, events and dead letters; -1: not known yet */
    _Atomic int64_t outbox_dead_letters;
    _Atomic int64_t outbox_oldest_ms;  /* age of the oldest row; 0 when empty */
    _Atomic int64_t parked_posts;      /* -1: not known yet */
    _Atomic int64_t held_commands;
    _Atomic int64_t parked_oldest_ms;  /* how long the longest-parked post has been parked */
    struct pw_client_stats clients[PW_M__CLIENTS];
};

/* Zeroes m, with no partition's lag known, both dependencies not known and now as the start. */
void pw_metrics_init(struct pw_metrics *m, const char *version, const char *lag_topic);

void pw_histogram_observe(struct pw_histogram *h, double seconds);

/* The client's statistics under its lock (a spin: both sides hold it for microseconds). */
static inline void pw_client_stats_lock(struct pw_client_stats *c)
{
    while (atomic_flag_test_and_set_explicit(&c->lock, memory_order_acquire))
        ;
}

static inline void pw_client_stats_unlock(struct pw_client_stats *c)
{
    atomic_flag_clear_explicit(&c->lock, memory_order_release);
}

static inline void pw_metric_add(_Atomic uint64_t *counter, uint64_t n)
{
    atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

/* The wall clock in milliseconds, for ages of what the store stamped. */
int64_t pw_metrics_now_ms(void);
/* A monotonic clock in milliseconds, for the loop's heartbeat and progress: a wall-clock step moves neither. */
int64_t pw_metrics_mono_ms(void);

#endif
