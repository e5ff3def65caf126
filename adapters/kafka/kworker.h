/*
 * The Kafka worker's state (internal to adapters/kafka): the loop
 * (worker_kafka.c) and the consumer it drives, with the waits for its
 * dependencies (consumer_kafka.c).
 */
#ifndef PW_ADAPTERS_KAFKA_KWORKER_H
#define PW_ADAPTERS_KAFKA_KWORKER_H

#include <librdkafka/rdkafka.h>

#include "adapters/kafka/batch_kafka.h"
#include "adapters/kafka/conf.h"
#include "adapters/kafka/observe_kafka.h"
#include "adapters/kafka/span_kafka.h"
#include "adapters/kafka/worker_kafka.h"

struct kworker {
    struct kafka_logctx log; /* first: the log callback finds it here */
    const struct pw_kafka_settings *s;
    const struct pw_kafka_worker_opts *o;
    struct pw_service *svc;
    rd_kafka_t *rk;
    struct kafka_batch batch;
    struct pw_offset *pending; /* the last batch's offsets, its rows not yet confirmed */
    size_t npending;
    struct kafka_span span;    /* a replay's partitions */
    struct pw_kafka_worker_stats stats;
    bool waiting;              /* a dependency is down and that was logged */
    long long waiting_since_ms, waiting_said_ms;
    struct kafka_talk talk;    /* progress lines and the rate of repeated warnings */
    enum pw_err fatal;         /* set by the rebalance callback, which cannot return it */
    struct pw_errbuf fatal_err;
    struct pw_metrics *m;      /* opts->metrics, or own_metrics */
    struct pw_metrics own_metrics;
    int64_t *stamps;           /* the Kafka timestamps of the pending batch's applied commands */
    size_t npending_stamps;    /* how many: they wait for the round in flight */
    int64_t *stamps_next;      /* the same for the batch in hand */
    long long next_probe_ms;   /* when to measure the lag and the outbox again */
    uint64_t seq;              /* the batch in hand's identity for the service */
};

#define KW_PROBE_MS 2000

static inline void kw_beat(struct kworker *kw)
{
    atomic_store_explicit(&kw->m->heartbeat_ms, pw_metrics_now_ms(), memory_order_relaxed);
}

static inline void kw_up(struct kworker *kw, enum pw_metric_dependency d, bool up)
{
    atomic_store_explicit(&kw->m->dependency_up[d], up, memory_order_relaxed);
}

static inline bool kw_stopping(const struct kworker *kw)
{
    return *kw->o->stop != 0;
}

static inline bool kw_replaying(const struct kworker *kw)
{
    return kw->o->start != PW_START_GROUP;
}

/* consumer_kafka.c: the consumer's life, its rebalances, and waiting out a dependency. */
enum pw_err kw_open(struct kworker *kw, struct pw_errbuf *err);
void kw_close(struct kworker *kw);
void kw_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e, rd_kafka_topic_partition_list_t *parts,
                  void *opaque);
/* Every few seconds: lag, outbox and parking, which also probe the store; true when it probed. */
bool kw_probe(struct kworker *kw);
/*
 * Says that a dependency is down (then again at least once a minute while
 * it stays down) and waits; false if a stop came meanwhile.
 */
bool kw_wait(struct kworker *kw, const char *what, enum pw_metric_retry kind, unsigned attempt,
             const struct pw_errbuf *err);
void kw_recovered(struct kworker *kw);

/* worker_kafka.c: the batch in hand run to the end, and publishing, for the rebalance too. */
enum pw_err kw_run_batch(struct kworker *kw, struct pw_errbuf *err);
enum pw_err kw_publish(struct kworker *kw, const struct pw_offset *cur, size_t ncur,
                       size_t nstamps, bool sync, struct pw_errbuf *err);

#endif
