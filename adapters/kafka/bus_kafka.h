/*
 * The message bus on Kafka: an idempotent producer (acks=all) that
 * publishes each outgoing message to the topic it names: an event keyed by
 * its post id with the header content-type: application/cloudevents+json,
 * a dead letter with its original key, value and headers plus dlq.*.
 */
#ifndef PW_ADAPTERS_KAFKA_BUS_KAFKA_H
#define PW_ADAPTERS_KAFKA_BUS_KAFKA_H

#include "adapters/kafka/settings.h"
#include "ports/bus.h"

/*
 * Opens the producer; settings must outlive the bus. Fails with PW_E_USAGE
 * for a property librdkafka refuses. It also looks up the metadata of
 * warm_topics (may be NULL), so that the first message to each is not
 * delayed by the lookup.
 */
enum pw_err pw_kafka_bus_open(struct pw_bus *bus, const struct pw_kafka_settings *settings,
                              const char *const *warm_topics, struct pw_errbuf *err);

#endif
