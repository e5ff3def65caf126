#include "bootstrap/worker.h"

#include "adapters/kafka/source_kafka.h"
#include "adapters/posix/clock_posix.h"

static void worker_add(struct pw_loop_stats *sum, const struct pw_loop_stats *s)
{
    sum->consumed += s->consumed;
    sum->applied += s->applied;
    sum->duplicates += s->duplicates;
    sum->rejected += s->rejected;
    sum->dead_letters += s->dead_letters;
    sum->held += s->held;
    sum->published += s->published;
    sum->batches += s->batches;
    sum->seq = s->seq;
}

/* One consumer in the group and a loop on it, until a stop or an error. */
static enum pw_err worker_once(const struct pw_worker_opts *opts, struct pw_service *svc,
                               struct pw_loop_stats *stats, struct pw_errbuf *err)
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
        .seq = stats->seq,
    };
    struct pw_loop_stats once = {0};
    rc = pw_loop_run(&ports, &cfg, &once, err);
    worker_add(stats, &once);
    pw_source_close(&src); /* leaves the group */
    return rc;
}

/*
 * The store lost commits it had acknowledged (--durability relaxed, a
 * crash of the database), or a commit sent without waiting did not
 * complete (ports/uow.h): nothing of them was published nor committed to
 * the group, so the worker leaves the group and joins again, and every
 * partition starts over from the offsets stored with the data.
 */
enum pw_err pw_worker_run(const struct pw_worker_opts *opts, struct pw_service *svc,
                          struct pw_errbuf *err)
{
    struct pw_loop_stats stats = {0};
    enum pw_err rc;
    while ((rc = worker_once(opts, svc, &stats, err)) == PW_E_LOST_COMMITS) {
        pw_logf(opts->settings->log, "warn", "%s", err->msg);
        struct pw_errbuf ferr;
        if (!(opts->stop && *opts->stop)) {
            /* What ran is run again: not a death. Refused, the same process vouches later. */
            (void)pw_service_finish(svc, &ferr);
            continue;
        }
        /* A clean stop: the next start reads them again, and must count no death. */
        struct pw_clock clock = pw_posix_clock();
        if (pw_loop_finish_service(svc, &clock, &ferr))
            pw_logf(opts->settings->log, "warn", "could not record that the last runs ended "
                    "(%s): the next worker counts them as one try", ferr.msg);
        rc = PW_OK;
        break;
    }
    if (opts->stats)
        *opts->stats = stats;
    return rc;
}
