/*
 * What the Kafka worker counts into the metrics (ports/metrics.h): each
 * message's outcome, the lag of its partitions, and the latency from a
 * command's Kafka timestamp to its event's acknowledgement (internal to
 * adapters/kafka).
 */
#ifndef PW_ADAPTERS_KAFKA_OBSERVE_KAFKA_H
#define PW_ADAPTERS_KAFKA_OBSERVE_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "adapters/kafka/batch_kafka.h"
#include "adapters/kafka/settings.h"
#include "adapters/kafka/worker_kafka.h"
#include "ports/metrics.h"

/* Counts one message's outcome, and its dead letter by code. */
void kafka_observe_outcome(struct pw_metrics *m, const struct pw_outcome *out);

/*
 * The latency of the commands stamped ts[0..n) (their Kafka timestamps),
 * now that their events are acknowledged.
 */
void kafka_observe_latency(struct pw_metrics *m, const int64_t *ts, size_t n);

/*
 * Each assigned partition's lag: its high watermark as last fetched less
 * the consumer's position; no network round trip. Partitions not assigned
 * any more are cleared.
 */
void kafka_observe_lag(struct pw_metrics *m, rd_kafka_t *rk);

/*
 * The lag of rk's partitions (rk NULL: none, a replay) and the outbox's
 * depth and age, from svc: a query of the store, which also says whether
 * the store answers (an idle worker learns so that it went away or came
 * back).
 */
void kafka_observe_probe(struct pw_metrics *m, rd_kafka_t *rk, struct pw_service *svc);

/* The log line of one message's outcome: always a dead letter's; applied and duplicate if each. */
void kafka_log_outcome(const struct pw_kafka_settings *s, const struct pw_input *in,
                       const struct pw_outcome *out, bool each);

/*
 * A position below the partition's first offset means the broker's
 * retention deleted commands before they were read: logged with the count.
 */
void kafka_check_retention(const struct pw_kafka_settings *s, rd_kafka_t *rk, const char *topic,
                           int32_t partition, int64_t next);

/*
 * What the worker says on its own: a progress line every KAFKA_PROGRESS_MS
 * while the counts move (and one more once they stop, so that the last line
 * after a burst has its total), and at most KAFKA_WARN_MAX dead-letter and
 * rejection lines per KAFKA_WARN_WINDOW_MS, then the count held back.
 */
#define KAFKA_PROGRESS_MS 5000
#define KAFKA_WARN_MAX 20
#define KAFKA_WARN_WINDOW_MS 10000

struct kafka_talk {
    long long progress_ms;      /* when the last progress line was said */
    uint64_t progress_consumed; /* the count it showed */
    long long window_ms;        /* when the warning window began */
    uint64_t shown, held;       /* warnings said and held back in it */
};

/* True if one more warning may be said now; else it is counted. */
bool kafka_talk_admit(struct kafka_talk *t, const struct pw_kafka_settings *s);

/* Each turn of the loop: the progress line when due, the held count when the window ends. */
void kafka_talk_tick(struct kafka_talk *t, const struct pw_kafka_settings *s,
                     const struct pw_kafka_worker_stats *st);

/* No partition is this worker's any more. */
void kafka_observe_no_lag(struct pw_metrics *m);

#endif
