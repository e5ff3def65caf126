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
#include "ports/metrics.h"

/* Counts the outcome of each message of b, and the dead letters by code. */
void kafka_observe_outcomes(struct pw_metrics *m, const struct kafka_batch *b);

/*
 * The Kafka timestamps of b's commands that published events, into ts
 * (room for b->n); how many.
 */
size_t kafka_observe_stamps(const struct kafka_batch *b, int64_t *ts);

/* Their latency now that their events are acknowledged. */
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

/* No partition is this worker's any more. */
void kafka_observe_no_lag(struct pw_metrics *m);

#endif
