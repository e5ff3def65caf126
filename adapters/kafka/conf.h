/*
 * librdkafka configuration and error translation shared by the Kafka
 * adapters (internal to adapters/kafka).
 */
#ifndef PW_ADAPTERS_KAFKA_CONF_H
#define PW_ADAPTERS_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

#include "adapters/kafka/settings.h"
#include "domain/err.h"

/*
 * What librdkafka's log callback needs to know of a handle: our settings
 * (their log function) and which handle it is ("consumer", "producer"). It
 * must be the first member of the struct a handle's opaque points to, so
 * that the callback finds it whatever that struct is.
 */
struct kafka_logctx {
    const struct pw_kafka_settings *s;
    const char *handle;
};

/*
 * A configuration with bootstrap.servers, the given defaults (NULL-ended
 * pairs), then the user's -X properties, so the user can override any of
 * ours; of those, only the ones librdkafka says a handle of type knows. On failure NULL, with a message that names the property but never
 * its value (it may be a password).
 *
 * opaque becomes the handle's opaque; it must point to a struct whose first
 * member is a struct kafka_logctx.
 */
rd_kafka_conf_t *kafka_conf_new(const struct pw_kafka_settings *s, rd_kafka_type_t type,
                                const char *const *defaults, void *opaque, struct pw_errbuf *err);

/*
 * Keeps rk, not destroyed, until the process exits (KAFKA_KEPT_MAX at
 * most); false when all places are taken, and then nothing is done. Once
 * it returns, no callback of rk is running or will run with its opaque, so
 * whatever the opaque points to may be freed: librdkafka's threads go on
 * (they log when a broker goes), and find nothing.
 */
enum { KAFKA_KEPT_MAX = 16 };
bool kafka_keep(rd_kafka_t *rk);

/*
 * For a callback of rk that reads its opaque: the opaque, or NULL once rk
 * was kept. kafka_opaque_done when finished with it, either way.
 */
const struct kafka_logctx *kafka_opaque_use(const rd_kafka_t *rk);
void kafka_opaque_done(void);

/*
 * How much the worker's consumer prefetches, in KiB, unless the worker's
 * options say (pw_kafka_source_opts.prefetch_kbytes) or -X does. librdkafka's
 * 64 MiB held most of the worker's memory while a backlog drained (a
 * 100,000 command backlog is about 60 MiB). Smaller is not free: librdkafka
 * 2.0 (Debian's) stops fetching for a second once the queue is full (2.2
 * made that fetch.queue.backoff.ms), so the queue should hold about a
 * second of the worker's rate: 16 MiB is about 32,000 commands of 500
 * bytes. In memory, 8 MiB capped the worker at 24,000/s against 40,000 at
 * 16 MiB (README, Benchmark).
 */
#define KAFKA_CONSUMER_QUEUE_KBYTES 16384

/*
 * A producer with our defaults for acknowledged delivery (acks=all,
 * idempotence) under extra (NULL-ended pairs, may be NULL) and the user's
 * -X, delivering reports to dr (may be NULL). NULL on failure, with err set.
 */
rd_kafka_t *kafka_producer_new(const struct pw_kafka_settings *s, const char *const *extra,
                               void *opaque,
                               void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                               struct pw_errbuf *err);

/* Looks up topic's metadata now, so that the first message to it is not delayed by it. */
void kafka_warm(rd_kafka_t *rk, const char *topic, volatile sig_atomic_t *stop);

/*
 * Whether a librdkafka log line of this kind may be shown at now_ms, or is
 * a repeat to hold back; *held counts the ones held back since the last
 * shown (for the line shown now). Thread-safe.
 */
bool kafka_log_admit(const char *handle, const char *fac, const char *msg, long long now_ms,
                     unsigned *held);

/* librdkafka's error as ours: retriable and transport errors are transient. */
enum pw_err kafka_err(rd_kafka_resp_err_t e);

/* printf-style log through s->log, if there is one. */
void kafka_log(const struct pw_kafka_settings *s, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Milliseconds on a monotonic clock. */
long long kafka_now_ms(void);
long long kafka_now_us(void);

#endif
