/*
 * The real-broker world: the real binaries (build/postworker, build/postctl)
 * run as a user runs them, against the Apache Kafka cluster that
 * tools/with-kafka started and the PostgreSQL server of tools/with-postgres.
 * Each test has topics, a consumer group and a database schema of its own,
 * so tests can run side by side on one cluster.
 */
#ifndef PW_TESTS_REAL_REAL_WORLD_H
#define PW_TESTS_REAL_REAL_WORLD_H

#include <stdbool.h>
#include <sys/types.h>

#include "tests/kafka_world.h"
#include "tests/pg_world.h"

struct rworld {
    const char *brokers; /* KAFKA_BROKERS */
    char commands[64], events[64], dlq[64], group[64];
    struct pg_schema pg;
    char dburl[1024];
};

struct rworker {
    pid_t pid;
    char log[128]; /* its standard error, in build/ */
    /* Set before rworker_start, or zero: the program (build/postworker) and one more NAME=VALUE. */
    const char *program;
    const char *env;
};

/*
 * Topics of partitions each (replicated on every node), the dead-letter
 * topic with dlq_config ("key=value", may be NULL), and a schema; fails the
 * test (saying what to run) outside tools/with-kafka and tools/with-postgres.
 */
void rworld_open(struct rworld *w, int partitions, const char *dlq_config);
/*
 * Creates topic with partitions, one replica on every node, and config
 * "key=value[;key=value...]" (or NULL).
 */
void rworld_topic(const char *brokers, const char *topic, int partitions, const char *config);
void rworld_close(struct rworld *w);

/* build/postworker run (or argv[0..]: "replay", ...) on w, with extra args (NULL-ended). */
void rworker_start(struct rworld *w, struct rworker *p, const char *const *args);
/* SIGTERM, then waits; returns the exit status (-1 if it did not exit). */
int rworker_stop(struct rworker *p);
/* kill -9, and waits. */
void rworker_kill(struct rworker *p);
/* Waits for a worker that stops by itself (a replay); its exit status. */
int rworker_wait(struct rworker *p, int timeout_s);
/* Its exit status (128 + N for signal N) if it has exited, else -2; never waits. */
int rworker_poll(struct rworker *p);
bool rworker_logged(const struct rworker *p, const char *needle);

/* Produces value keyed by key to topic, acknowledged; headers "name=value", NULL-ended. */
void rworld_send(struct rworld *w, const char *topic, const char *key, const void *value,
                 size_t len, const char *const *headers);
/* CreatePost commands prefix-from .. prefix-(from+n-1), acknowledged. */
/*
 * One message to the commands topic as a hostile producer sends it: hdrs
 * are name, value pairs (a NULL value is a null header; names may repeat),
 * ending at a NULL name; timestamp_ms 0 for now. Up to 2 MB.
 */
void rworld_send_raw(struct rworld *w, const char *key, const void *value, size_t len,
                     const char *const *hdrs, int64_t timestamp_ms);

void rworld_preload(struct rworld *w, const char *prefix, int from, int n);
/* Reads topic from its start until n messages or timeout_ms. */
size_t rworld_read(struct rworld *w, const char *topic, size_t n, int timeout_ms,
                   struct kmsg **out);
/* Waits until topic holds at least n messages; returns how many it holds. */
size_t rworld_wait_for(struct rworld *w, const char *topic, size_t n, int timeout_ms);
/* A number from the test's schema (pg_schema_scalar). */
long long rworld_sql(struct rworld *w, const char *sql);

/* Deletes partition's records before offset (the broker's retention, on demand). */
void rworld_delete_records(struct rworld *w, const char *topic, int32_t partition, int64_t before);

/* The node that leads partition of topic (1..N). */
int rworld_leader(struct rworld *w, const char *topic, int32_t partition);
/* "$PW_KAFKA_CTL verb node", which must succeed. */
void rworld_ctl(const char *verb, int node);

#endif
