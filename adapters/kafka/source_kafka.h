/*
 * The source port (ports/source.h) on a librdkafka consumer: in the
 * consumer group (subscribed to the commands topic, the group's offsets
 * committed by the loop), or a replay that assigns every partition itself
 * from where it is asked to start and ends at the end the topic had then.
 */
#ifndef PW_ADAPTERS_KAFKA_SOURCE_KAFKA_H
#define PW_ADAPTERS_KAFKA_SOURCE_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include "adapters/kafka/settings.h"
#include "ports/metrics.h"
#include "ports/source.h"

struct pw_kafka_source_opts {
    const struct pw_kafka_settings *settings; /* borrowed, outliving the source */
    size_t batch_size;     /* the most one fetch returns */
    enum pw_kafka_start start;
    int64_t start_offset;  /* PW_START_OFFSET */
    int64_t start_time_ms; /* PW_START_TIME, milliseconds since the epoch */
    /*
     * The consumer's prefetch (queued.max.messages.kbytes; -X wins): about
     * a second of the worker's rate, since librdkafka 2.0 stops fetching
     * for a second when it is full. 0: KAFKA_CONSUMER_QUEUE_KBYTES.
     */
    int prefetch_kbytes;
    struct pw_metrics *metrics; /* where the lag and the broker's state go; may be NULL */
};

/*
 * Starts the consumer: subscribed (PW_START_GROUP) or assigned a replay's
 * partitions. PW_E_USAGE with err when librdkafka refuses its
 * configuration or the topic; PW_E_NOMEM. The source is closed either way.
 */
enum pw_err pw_kafka_source_open(struct pw_source *src, const struct pw_kafka_source_opts *opts,
                                 struct pw_errbuf *err);

#endif
