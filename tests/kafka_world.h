/*
 * A Kafka world for tests: librdkafka's mock cluster in this process, the
 * real Kafka worker in a thread on in-memory stores, and helpers to produce
 * commands and read topics back.
 */
#ifndef PW_TESTS_KAFKA_WORLD_H
#define PW_TESTS_KAFKA_WORLD_H

#include <pthread.h>
#include <signal.h>

#include "adapters/kafka/embedded_kafka.h"
#include "adapters/kafka/settings.h"
#include "bootstrap/worker.h"
#include "tests/helpers.h"
#include "tests/pg_world.h"

struct kworld {
    struct kworld *owner; /* a peer shares its owner's broker and store */
    struct pw_kafka_embedded *kafka;
    struct pw_kafka_settings ks;
    struct pw_inmem_store *store;
    struct pg_schema *pg; /* set: the stores are PostgreSQL, in a schema of the test's own */
    struct pw_uow uow;
    struct pw_store st;
    struct pw_outbox outbox;
    struct pw_bus kafka_bus;
    struct pw_bus bus; /* kafka_bus behind a counter that can request a stop */
    unsigned long published;
    unsigned long stop_after; /* request a stop once this many events went out; 0 never */
    struct pw_ids ids;
    struct pw_app app;
    struct pw_worker_opts opts;
    struct pw_loop_stats stats;
    volatile sig_atomic_t stop;
    pthread_t thread;
    bool running;
    enum pw_err rc;
    struct pw_errbuf err;
};

/* A message read back: copies, freed by kmsgs_free. */
struct kmsg {
    char *key;
    char *value;
    size_t len;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms;
    char *headers[32]; /* "name=value": the first 16, and every dlq.* one */
    size_t nheaders;
};

void kworld_open(struct kworld *kw, size_t batch_size);
/* The embedded broker's partitions per topic for the next kworld opened (4). */
extern int kworld_partitions;

/* The same on PostgreSQL (a fresh schema); skips the test without DATABASE_URL. */
void kworld_open_pg(struct kworld *kw, size_t batch_size);
void kworld_start(struct kworld *kw);
/* Stops the worker cleanly and waits for it; its return code is in kw->rc. */
void kworld_stop(struct kworld *kw);
void kworld_close(struct kworld *kw);
/*
 * A second worker in the same consumer group, on kw's broker and store (a
 * "connection" of its own to it): for rebalances. Close it before kw.
 */
void kworld_open_peer(struct kworld *peer, struct kworld *kw, size_t batch_size);
/* Waits for a worker that stops by itself (stop_after, a replay). */
void kworld_wait(struct kworld *kw);

/* Produces value keyed by key to topic, with "name=value" headers (NULL-ended), acknowledged. */
void kworld_send(struct kworld *kw, const char *topic, const char *key, const char *value,
                 const char *const *headers);

/*
 * Produces CreatePost commands number from .. from+n-1, each with post id and
 * command id "<prefix>-<number>", keyed by post id, all acknowledged.
 */
void kworld_preload(struct kworld *kw, const char *prefix, int from, int n);
/* The same to any cluster's topic, with source as the commands' source. */
void kafka_preload(const char *brokers, const char *topic, const char *source, const char *prefix,
                   int from, int n);

/*
 * Produces, for each post "<prefix>-<number>" from .. from+n-1, an
 * UpdatePost expecting version (so a command lost or run out of order is
 * rejected), command id "<post>-v<version>", acknowledged; trickle_ms
 * (0: none) is a pause after every 10, for a stream rather than a burst.
 */
void kafka_preload_updates(const char *brokers, const char *topic, const char *source,
                           const char *prefix, int from, int n, int version, int trickle_ms);

/* Reads topic from the beginning until n messages (or timeout_ms); returns how many, in *out. */
size_t kworld_read(struct kworld *kw, const char *topic, size_t n, int timeout_ms,
                   struct kmsg **out);
/* The same from any cluster: every partition of topic from its start. */
size_t kafka_read_topic(const char *brokers, const char *topic, size_t n, int timeout_ms,
                        struct kmsg **out);
void kmsgs_free(struct kmsg *msgs, size_t n);

/* The value of header name of m, or NULL. */
const char *kmsg_header(const struct kmsg *m, const char *name);

#endif
