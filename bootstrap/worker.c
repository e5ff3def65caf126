#include "bootstrap/worker.h"

#include "adapters/kafka/source_kafka.h"
#include "adapters/posix/clock_posix.h"

enum pw_err pw_worker_run(const struct pw_worker_opts *opts, struct pw_service *svc,
                          struct pw_errbuf *err)
{
    const struct pw_kafka_settings *s = opts->settings;
    struct pw_kafka_source_opts so = {
        .settings = s,
        .batch_size = opts->batch_size,
        .start = opts->start,
        .start_offset = opts->start_offset,
        .start_time_ms = opts->start_time_ms,
        .prefetch_kbytes = opts->prefetch_kbytes,
        .metrics = opts->metrics,
    };
    struct pw_source src;
    enum pw_err rc = pw_kafka_source_open(&src, &so, err);
    if (rc)
        return rc;
    struct pw_clock clock = pw_posix_clock();
    struct pw_loop_ports ports = {.source = &src, .svc = svc, .clock = &clock};
    struct pw_loop_config cfg = {
        .group = s->group,
        .batch_size = opts->batch_size,
        .batch_wait_ms = opts->batch_wait_ms,
        .replay = opts->start != PW_START_GROUP,
        .stop = opts->stop,
        .wait_repeat_ms = opts->wait_repeat_ms,
        .metrics = opts->metrics,
        .log = s->log,
        .log_fields = opts->log_fields,
    };
    rc = pw_loop_run(&ports, &cfg, opts->stats, err);
    pw_source_close(&src); /* leaves the group */
    return rc;
}
