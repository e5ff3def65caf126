/*
 * The broker's ceiling for make bench: a worker that does no work. It
 * consumes the commands topic and produces for each command an event of
 * the same size (valid, so that a reader can time it); a command's offset
 * is stored once its event is acknowledged and committed in the
 * background. The Kafka half of the real worker's path, as fast as
 * librdkafka goes, and nothing else. Not used by the programs.
 */
#ifndef PW_ADAPTERS_KAFKA_NOOP_KAFKA_H
#define PW_ADAPTERS_KAFKA_NOOP_KAFKA_H

#include "adapters/kafka/settings.h"
#include "domain/err.h"

/* Runs until *s->stop; s names the brokers, group and topics. */
enum pw_err pw_kafka_noop_worker(const struct pw_kafka_settings *s, struct pw_errbuf *err);

#endif
