/*
 * A span of a topic for a reader that assigns every partition itself (no
 * consumer group): where each partition starts, where it is, and where it
 * ended when the reader started. The worker's replay and postctl's reader
 * share it (internal to adapters/kafka).
 */
#ifndef PW_ADAPTERS_KAFKA_SPAN_KAFKA_H
#define PW_ADAPTERS_KAFKA_SPAN_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "adapters/kafka/conf.h"
#include "adapters/kafka/settings.h"
#include "domain/err.h"

struct kafka_span {
    int32_t nparts;
    int64_t *end;        /* per partition, its end when the span was assigned */
    int64_t *pos;        /* per partition, the next offset not yet seen */
    bool *filter;        /* per partition: skip what is stamped before time_ms */
    int64_t time_ms;
    bool looked_up;      /* by time: the broker said where each partition starts */
};

/*
 * Looks up topic's partitions and their ends, and assigns rk to every one
 * from start: PW_START_BEGINNING, PW_START_END, PW_START_OFFSET (offset, or
 * a partition's first offset if later) or PW_START_TIME (time_ms; where the
 * broker cannot look times up, from the start, skipping what is older). On
 * failure err names the topic and the brokers; kafka_span_release either way.
 */
enum pw_err kafka_span_assign(struct kafka_span *sp, rd_kafka_t *rk, const char *topic,
                              const char *brokers, enum pw_kafka_start start, int64_t offset,
                              int64_t time_ms, struct pw_errbuf *err);

/* Partition p has been read up to next (exclusive). */
void kafka_span_seen(struct kafka_span *sp, int32_t p, int64_t next);

/* True for a message the span skips (a replay by time, before its time); it counts as seen. */
bool kafka_span_skip(struct kafka_span *sp, const rd_kafka_message_t *m);

/* Every partition read to its end as of the assignment. */
bool kafka_span_done(const struct kafka_span *sp);

void kafka_span_release(struct kafka_span *sp);

/* A reader: a consumer assigned to every partition of one topic itself, in no group. */
struct kafka_reader {
    struct kafka_logctx log; /* first: the log callback finds it here */
    rd_kafka_t *rk;
    struct kafka_span span;
};

/* Opens r on topic from start (as kafka_span_assign); kafka_reader_close either way. */
enum pw_err kafka_reader_open(struct kafka_reader *r, const struct pw_kafka_settings *s,
                              const char *topic, enum pw_kafka_start start, int64_t offset,
                              int64_t time_ms, struct pw_errbuf *err);

/*
 * Calls fn for each message until *stop (stop may be NULL), fn returns
 * false, the end as of the assignment (if until_end), or an error:
 * PW_E_TRANSIENT when no broker can be reached (run it again to go on).
 */
enum pw_err kafka_reader_run(struct kafka_reader *r, bool until_end, volatile sig_atomic_t *stop,
                             bool (*fn)(const rd_kafka_message_t *m, void *arg), void *arg,
                             struct pw_errbuf *err);

void kafka_reader_close(struct kafka_reader *r);

#endif
