/* librdkafka's statistics into the client metrics (internal to adapters/kafka). */
#ifndef PW_ADAPTERS_KAFKA_STATS_KAFKA_H
#define PW_ADAPTERS_KAFKA_STATS_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

/*
 * librdkafka's stats_cb: the handle's opaque starts with a struct
 * kafka_logctx whose settings say where the metrics go. Returns 0: the
 * document is librdkafka's to free.
 */
int kafka_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque);

/* How often librdkafka reports, unless -X statistics.interval.ms says. */
#define KAFKA_STATS_INTERVAL_MS "5000"

#endif
