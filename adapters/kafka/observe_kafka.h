/*
 * What only the consumer can measure (internal to adapters/kafka): the lag
 * of its partitions, and commands the broker's retention deleted unread.
 */
#ifndef PW_ADAPTERS_KAFKA_OBSERVE_KAFKA_H
#define PW_ADAPTERS_KAFKA_OBSERVE_KAFKA_H

#include <librdkafka/rdkafka.h>

#include "adapters/kafka/settings.h"
#include "ports/metrics.h"

/*
 * Each assigned partition's lag, and how many there are: its high
 * watermark as last fetched less the consumer's position (before the first
 * fetch, less starts[partition], where it was assigned to start, else its
 * first offset; the watermarks then asked of the broker, a few partitions
 * per call). Partitions not assigned any more are cleared.
 */
void kafka_observe_lag(struct pw_metrics *m, rd_kafka_t *rk, const int64_t *starts);

/*
 * A position below the partition's first offset means the broker's
 * retention deleted commands before they were read: logged with the count.
 * Returns where reading goes on: the first offset then, else next.
 */
int64_t kafka_check_retention(const struct pw_kafka_settings *s, rd_kafka_t *rk,
                              const char *topic, int32_t partition, int64_t next);

#endif
