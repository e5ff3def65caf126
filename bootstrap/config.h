/*
 * postworker's configuration: the contract's table of environment variables
 * and flags (flags win), plus the batch settings. Parsing never prints and
 * never exits: it returns PW_E_USAGE with one line, and main exits 2.
 */
#ifndef PW_BOOTSTRAP_CONFIG_H
#define PW_BOOTSTRAP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "adapters/kafka/settings.h"
#include "domain/err.h"
#include "domain/time.h"

enum pw_mode {
    PW_MODE_RUN,
    PW_MODE_MIGRATE,
    PW_MODE_REPLAY,
    PW_MODE_REDRIVE,
    PW_MODE_PARKED,
    PW_MODE_RELEASE,
    PW_MODE_SERVE
};

/* The programs that share the table: each setting says which take it. */
enum pw_program { PW_PROG_WORKER = 1, PW_PROG_CTL = 2 };

/* Where the embedded broker's address is written, for postctl to find. */
#define PW_BROKERS_DIR ".postworker"
#define PW_BROKERS_FILE ".postworker/brokers"
/* Beside it, the embedded default's read API (--http), for postctl: "http://HOST:PORT". */
#define PW_API_FILE ".postworker/http"

#define PW_CONFIG_MAX_PROPS 64
#define PW_CONFIG_MAX_FILTERS 32

/* Every string is borrowed from argv or the environment, which outlive main. */
struct pw_config {
    enum pw_mode mode;
    bool help;
    bool version;
    const char *http;     /* HOST:PORT of the health and metrics listener; NULL: none */
    const char *api;      /* postctl: the read API's base URL; NULL: found, or the default */
    const char *log_format; /* "text" or "json" */
    const char *log_level;  /* "debug", "info", "warn" or "error" */
    const char *brokers;  /* NULL: the embedded broker */
    const char *database; /* NULL: the in-memory store */
    const char *group;
    const char *commands_topic;
    const char *events_topic;
    const char *dlq_topic;
    const char *props[PW_CONFIG_MAX_PROPS]; /* -X key=value, in order */
    size_t nprops;
    const char *kafka_config; /* -F FILE: librdkafka properties, one key=value a line */
    char *file_buf;           /* its text, owned (pw_config_release) */
    const char *all_props[2 * PW_CONFIG_MAX_PROPS]; /* the file's, then -X's: -X wins */
    size_t nall_props;
    size_t batch_size;   /* commands per unit of work */
    int batch_wait_ms;   /* the longest a batch waits to fill */
    unsigned max_attempts; /* runs of a message that killed the process, before it is given up */
    const char *durability;     /* "strict" or "relaxed" */
    int64_t inbox_retention_ms; /* 0: from the commands topic; -1: forever */
    enum pw_kafka_start replay_from; /* replay's and redrive's start; PW_START_GROUP: none given */
    int64_t replay_offset;
    pw_time replay_time;
    /* redrive: the dead letters to send back (none: any), and whether to send at all */
    const char *kinds[PW_CONFIG_MAX_FILTERS];
    size_t nkinds;
    const char *codes[PW_CONFIG_MAX_FILTERS];
    size_t ncodes;
    bool dry_run;          /* redrive, release: say what would be done, do nothing */
    bool no_publish;       /* replay: rebuild the state, publish nothing */
    bool events_named, dlq_named; /* --events-topic, --dlq-topic given on the command line */
    const char *post_id;   /* release: the post to release */
};

/* Looks up an environment variable; getenv, or a table in tests. */
typedef const char *(*pw_getenv_fn)(const char *name);

/*
 * Fills *cfg from argv (argv[0] is the program) and the environment.
 * PW_E_USAGE with a one-line message on a bad flag or value.
 */
enum pw_err pw_config_parse(struct pw_config *cfg, int argc, char **argv, pw_getenv_fn env,
                            struct pw_errbuf *err);

/*
 * The same table for another program: pw_config_init zeroes *cfg and
 * applies the defaults and environment of prog's settings; pw_config_take
 * applies argv[*i] if it is one of them (or -X), consuming its value, and
 * says so in *taken. PW_E_USAGE with one line on a bad value.
 */
enum pw_err pw_config_init(struct pw_config *cfg, enum pw_program prog, pw_getenv_fn env,
                           struct pw_errbuf *err);
enum pw_err pw_config_take(struct pw_config *cfg, enum pw_program prog, int argc, char **argv,
                           int *i, bool *taken, struct pw_errbuf *err);

/*
 * Reads -F FILE, if given, and orders the librdkafka properties: the
 * file's, then -X's, so that -X wins. Both programs call it once their
 * flags are parsed (pw_config_parse does). PW_E_USAGE with one line (the
 * file and line, never a value) for a file it cannot read or a line that
 * is not key=value.
 */
enum pw_err pw_config_finish(struct pw_config *cfg, struct pw_errbuf *err);

/* Frees what cfg owns (the -F file's text). */
void pw_config_release(struct pw_config *cfg);

/* The Kafka adapters' settings from cfg (borrowing its strings); log may be NULL. */
struct pw_kafka_settings pw_config_kafka(const struct pw_config *cfg, pw_log_fn log);

/* The usage text that --help prints. */
extern const char pw_config_usage[];

#endif
