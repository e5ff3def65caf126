/*
 * Kafka for postctl and the tests: produce with acknowledgement, tail a
 * topic as JSON lines, and read a post's latest state back from the events
 * topic. Not on the worker's path.
 */
#ifndef PW_ADAPTERS_KAFKA_CLIENT_KAFKA_H
#define PW_ADAPTERS_KAFKA_CLIENT_KAFKA_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "adapters/kafka/settings.h"
#include "domain/err.h"

struct pw_kafka_client;

/* A producer (acks=all). On PW_OK *out is the caller's (pw_kafka_client_free). */
enum pw_err pw_kafka_client_new(struct pw_kafka_client **out, const struct pw_kafka_settings *s,
                                 struct pw_errbuf *err);

/* Queues value, keyed by key (may be NULL), with headers "name=value" (NULL-ended, may be NULL). */
enum pw_err pw_kafka_client_produce(struct pw_kafka_client *c, const char *topic, const char *key,
                                    const void *value, size_t len, const char *const *headers,
                                    struct pw_errbuf *err);

/* Waits for every queued message; returns how many failed, with the first failure in err. */
size_t pw_kafka_client_flush(struct pw_kafka_client *c, struct pw_errbuf *err);

void pw_kafka_client_free(struct pw_kafka_client *c);

/*
 * Waiting for a command's outcome (postctl --wait): open before the
 * command is sent, so that it reads the events and dead-letter topics from
 * their ends as they were, then await.
 */
struct pw_kafka_watch;

enum pw_err pw_kafka_watch_open(struct pw_kafka_watch **out, const struct pw_kafka_settings *s,
                                struct pw_errbuf *err);

/*
 * What became of command (source, id): PW_OK with line set to
 * "applied: PostCreated 'p' version 1" (its first event), PW_E_NOT_FOUND
 * with line set to "rejected: not_found: ..." (its dead letter:
 * dlq.error.kind, code and message), PW_E_TRANSIENT if neither came within
 * timeout_ms or a stop (a duplicate publishes nothing).
 */
enum pw_err pw_kafka_watch_await(struct pw_kafka_watch *w, const char *source, const char *id,
                                 int timeout_ms, volatile sig_atomic_t *stop, char *line,
                                 size_t size);

void pw_kafka_watch_free(struct pw_kafka_watch *w);

/* True if a broker at brokers answers a metadata request within timeout_ms. */
/*
 * Checks what can be checked of s before anything starts: the broker list's
 * form, and every -X property and value (as librdkafka's configuration
 * takes them). PW_E_USAGE with one line naming what is wrong (never a
 * property's value: it may be a secret).
 */
enum pw_err pw_kafka_settings_check(const struct pw_kafka_settings *s, struct pw_errbuf *err);

bool pw_kafka_reachable(const char *brokers, int timeout_ms);

enum pw_tail_format {
    PW_TAIL_VALUE,    /* the value itself when it is JSON (events) */
    PW_TAIL_ENVELOPE, /* key, headers, value and position (dead letters) */
};

/*
 * Writes each message of topic to out as one JSON line, from the beginning
 * or from now on, until *stop is set, or (until_end) until the end of the
 * topic as it was at start.
 */
enum pw_err pw_kafka_tail(const struct pw_kafka_settings *s, const char *topic,
                          bool from_beginning, bool until_end, enum pw_tail_format fmt,
                          volatile sig_atomic_t *stop, FILE *out, struct pw_errbuf *err);

/* One message as read: all borrowed for the length of the callback. */
struct pw_kafka_record {
    const char *key; /* NULL for a null key */
    size_t key_len;
    const char *value;
    size_t len;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* -1 if none */
};

/*
 * The longest the topic may keep a message, as the broker describes it:
 * its retention.ms plus its segment.ms (a segment is deleted only once its
 * newest message is past retention.ms, and it may take segment.ms to
 * fill). -1: forever (retention.ms -1, a century or more, or
 * cleanup.policy compact without delete, which keeps each key's last
 * message). Transient when the broker cannot be asked (or, like the
 * embedded mock, does not answer DescribeConfigs) within 15 s, or s->stop
 * is set meanwhile.
 */
enum pw_err pw_kafka_topic_retention(const struct pw_kafka_settings *s, const char *topic,
                                     int64_t *ms, struct pw_errbuf *err);

typedef void (*pw_kafka_record_fn)(const struct pw_kafka_record *rec, void *arg);

/* Calls fn for each message of topic, as pw_kafka_tail reads them. */
enum pw_err pw_kafka_read(const struct pw_kafka_settings *s, const char *topic,
                          bool from_beginning, bool until_end, volatile sig_atomic_t *stop,
                          pw_kafka_record_fn fn, void *arg, struct pw_errbuf *err);

/*
 * The latest state of post_id, read from the events topic: the data of its
 * newest event, as JSON the caller frees. PW_E_NOT_FOUND if it has none.
 */
enum pw_err pw_kafka_get_post(const struct pw_kafka_settings *s, const char *post_id, char **json,
                              struct pw_errbuf *err);

#endif
