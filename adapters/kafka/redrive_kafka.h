/*
 * Redrive: dead letters back to the commands topic, for when their cause is
 * fixed (a handler deployed for an unsupported type, a constraint dropped).
 * Reads the dead-letter topic from a starting point to its end as it was at
 * the start, and sends each matching dead letter with its original key,
 * value and headers: the dlq.* headers removed, dlq.redriven.from
 * ("partition/offset" of the dead letter) added. Sending one twice is
 * harmless: a command already processed is a duplicate to the worker.
 */
#ifndef PW_ADAPTERS_KAFKA_REDRIVE_KAFKA_H
#define PW_ADAPTERS_KAFKA_REDRIVE_KAFKA_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapters/kafka/settings.h"
#include "domain/err.h"

struct pw_redrive_opts {
    const struct pw_kafka_settings *settings; /* dlq_topic: from; commands_topic: to */
    const char *const *kinds;                 /* dlq.error.kind values to take; none: any */
    size_t nkinds;
    const char *const *codes;                 /* dlq.error.code values to take; none: any */
    size_t ncodes;
    enum pw_kafka_start start;                /* PW_START_BEGINNING, _OFFSET or _TIME */
    int64_t start_offset;
    int64_t start_time_ms;
    bool dry_run;                             /* count and list, send nothing */
    volatile sig_atomic_t *stop;
};

struct pw_redrive_stats {
    uint64_t read;     /* messages read from the dead-letter topic */
    uint64_t sent;     /* matching ones sent (or, in a dry run, that would be) */
    uint64_t skipped;  /* dead letters that did not match the filters */
    uint64_t dropped;  /* matching, but without their value (dlq.value.dropped): not sent */
    uint64_t foreign;  /* messages without dlq.error.kind: not dead letters of ours */
    uint64_t failed;   /* sent but not acknowledged by the broker */
};

/*
 * Runs the redrive, logging progress every few seconds through the
 * settings' log. PW_OK when every matching dead letter up to the end was
 * sent and acknowledged; PW_E_TRANSIENT if a stop came first; another code
 * when the broker refused some (st says how many), with err.
 */
enum pw_err pw_kafka_redrive(const struct pw_redrive_opts *o, struct pw_redrive_stats *st,
                             struct pw_errbuf *err);

#endif
