/*
 * librdkafka configuration and error translation shared by the Kafka
 * adapters (internal to adapters/kafka).
 */
#ifndef PW_ADAPTERS_KAFKA_CONF_H
#define PW_ADAPTERS_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>

#include "adapters/kafka/settings.h"
#include "domain/err.h"

/*
 * A configuration with bootstrap.servers, the given defaults (NULL-ended
 * pairs), then the user's -X properties, so the user can override any of
 * ours. On failure NULL, with a message that names the property but never
 * its value (it may be a password).
 *
 * opaque becomes the handle's opaque; it must point to a struct whose first
 * member is the settings pointer, which librdkafka's log lines go through.
 */
rd_kafka_conf_t *kafka_conf_new(const struct pw_kafka_settings *s, const char *const *defaults,
                                void *opaque, struct pw_errbuf *err);

/* librdkafka's error as ours: retriable and transport errors are transient. */
enum pw_err kafka_err(rd_kafka_resp_err_t e);

/* printf-style log through s->log, if there is one. */
void kafka_log(const struct pw_kafka_settings *s, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Milliseconds on a monotonic clock. */
long long kafka_now_ms(void);

#endif
