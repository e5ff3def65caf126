/*
 * The embedded broker: librdkafka's mock cluster, in this process, for the
 * default that runs with no setup. It keeps nothing across restarts, keeps
 * only the newest 5 MiB of each partition (librdkafka 2.0.2), and a group
 * join takes about 3 s. Any Kafka client can talk to it while it runs.
 */
#ifndef PW_ADAPTERS_KAFKA_EMBEDDED_KAFKA_H
#define PW_ADAPTERS_KAFKA_EMBEDDED_KAFKA_H

#include <stdbool.h>

#include "domain/err.h"

struct pw_kafka_embedded;

#define PW_EMBEDDED_PARTITIONS 32

/*
 * Starts a one-broker cluster with topics[] (NULL-ended) of partitions each.
 * On PW_OK *out is the caller's (pw_kafka_embedded_free).
 */
enum pw_err pw_kafka_embedded_start(const char *const *topics, int partitions,
                                    struct pw_kafka_embedded **out, struct pw_errbuf *err);

/* "127.0.0.1:PORT": the bootstrap servers; borrowed while the cluster runs. */
const char *pw_kafka_embedded_brokers(const struct pw_kafka_embedded *kafka);

/*
 * Whether its connections were given TCP_NODELAY, as a real broker's are
 * (without it, pipelined requests wait about 40 ms each for a delayed ACK);
 * false where the listener could not be found (not Linux).
 */
bool pw_kafka_embedded_nodelay(const struct pw_kafka_embedded *kafka);

/*
 * Takes the broker down (up = 0) or brings it back (up = 1): for tests of a
 * worker whose broker goes away.
 */
void pw_kafka_embedded_set_up(struct pw_kafka_embedded *kafka, int up);

/*
 * Makes the broker answer the next n requests of Kafka API api_key (0 is
 * Produce) with Kafka error code err: for tests of a broker that refuses.
 */
void pw_kafka_embedded_fail_requests(struct pw_kafka_embedded *kafka, int api_key, int n,
                                     int err);

void pw_kafka_embedded_free(struct pw_kafka_embedded *kafka);

#endif
