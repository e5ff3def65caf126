/*
 * What the Kafka adapters need to know, filled in by bootstrap from its
 * configuration (an adapter may not include bootstrap/). All borrowed.
 */
#ifndef PW_ADAPTERS_KAFKA_SETTINGS_H
#define PW_ADAPTERS_KAFKA_SETTINGS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "ports/log.h"
#include "ports/metrics.h"

/*
 * Where reading starts: the consumer group's position, or a reader's own
 * starting point (a replay, a tail).
 */
enum pw_kafka_start {
    PW_START_GROUP,
    PW_START_BEGINNING,
    PW_START_END,
    PW_START_OFFSET,
    PW_START_TIME,
};

struct pw_kafka_settings {
    const char *brokers;
    const char *const *props; /* "key=value" librdkafka properties, applied last */
    const char *client_id;    /* librdkafka's client.id unless props set one; NULL: its own */
    size_t nprops;
    const char *group;
    const char *commands_topic;
    const char *events_topic;
    const char *dlq_topic;
    pw_log_fn log; /* may be NULL */
    /*
     * The brokers are librdkafka's mock cluster (the embedded default):
     * consumers wait less for fetches and joins (kafka_conf_new).
     */
    bool embedded;
    /* Where librdkafka's statistics go (client metrics); NULL: none asked for. */
    struct pw_metrics *metrics;
    /* Set (by a signal handler) when the program stops: waits end early. May be NULL. */
    volatile sig_atomic_t *stop;
};

#endif
