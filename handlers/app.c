/*
 * The application assembled on its ports, and the inbound port on it. The
 * service is a thin table: run is the failure path over the dispatcher,
 * drain runs held commands, publish is the relay, stats and position are
 * queries of the store.
 */
#include "handlers/app.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Tokens of runs (handlers/runs.h) need only differ from another process's;
 * without a random instance from the caller, the time and this app's
 * address make one.
 */
static uint64_t app_instance(const struct pw_app *app)
{
    static _Atomic unsigned opened;
    uint64_t t = (uint64_t)time(NULL), a = (uint64_t)(uintptr_t)app;
    return (t << 32) ^ (a << 8) ^ ((uint64_t)++opened << 56);
}

enum pw_err pw_app_open(struct pw_app *app, const struct pw_app_ports *ports,
                        const struct pw_app_config *cfg)
{
    memset(app, 0, sizeof *app);
    pw_registry_init(&app->reg);
    pw_posts_register(&app->reg);
    app->uow = ports->uow;
    app->store = ports->store;
    app->ids = ports->ids;
    app->events_topic = cfg->events_topic;
    app->dlq_topic = cfg->dlq_topic;
    app->max_attempts = cfg->max_attempts ? cfg->max_attempts : 3;
    pw_runs_init(&app->runs, cfg->instance ? cfg->instance : app_instance(app));
    size_t cap = cfg->drain_batch ? cfg->drain_batch : 64;
    app->drained.held = calloc(cap, sizeof *app->drained.held);
    app->drained.in = calloc(cap, sizeof *app->drained.in);
    app->drained.outs = calloc(cap, sizeof *app->drained.outs);
    app->drained.cap = cap;
    if (!app->drained.held || !app->drained.in || !app->drained.outs) {
        pw_drained_release(&app->drained);
        return PW_E_NOMEM;
    }
    return pw_relay_init(&app->relay, ports->outbox, ports->bus, cfg->relay_batch,
                         cfg->flush_timeout_ms);
}

void pw_app_close(struct pw_app *app)
{
    pw_relay_release(&app->relay);
    pw_runs_release(&app->runs);
    pw_isolation_release(&app->iso);
    pw_drained_release(&app->drained);
    memset(app, 0, sizeof *app);
}

static enum pw_err app_run(void *self, struct pw_batch *b, struct pw_errbuf *err)
{
    struct pw_app *app = self;
    /* The last run's commit first: even a run that begins no transaction (all stale) waits for it. */
    enum pw_err rc = pw_uow_settle(app->uow, err);
    return rc ? rc : pw_isolate_run(app, b, b->overlap, err);
}

static enum pw_err app_drain(void *self, pw_decode_fn decode, const struct pw_input **in,
                             const struct pw_outcome **outs, size_t *n, struct pw_errbuf *err)
{
    struct pw_app *app = self;
    *n = 0;
    *in = app->drained.in;
    *outs = app->drained.outs;
    enum pw_err rc = pw_uow_settle(app->uow, err); /* the store's reads see the last run */
    return rc ? rc : pw_drain(self, decode, in, outs, n, err);
}

static enum pw_err app_publish(void *self, enum pw_publish_mode mode,
                               struct pw_publish_result *res, struct pw_errbuf *err)
{
    struct pw_app *app = self;
    uint64_t before = app->relay.events_acked;
    enum pw_err rc;
    res->more = false;
    res->confirmed = 0;
    app->relay.bus_failed = false; /* a store that fails says nothing of Kafka */
    if (mode == PW_PUBLISH_START)
        rc = pw_relay_send(&app->relay, &res->confirmed, &res->more, err);
    else if (!(rc = pw_uow_settle(app->uow, err))) /* everything: the last commit's rows too */
        rc = pw_relay_drain(&app->relay, &res->confirmed, err);
    res->events = (size_t)(app->relay.events_acked - before);
    res->bus_failed = rc && app->relay.bus_failed;
    return rc;
}

static enum pw_err app_stats(void *self, struct pw_service_stats *st, struct pw_errbuf *err)
{
    struct pw_app *app = self;
    *st = (struct pw_service_stats){.outbox_pending = -1, .outbox_oldest_ms = -1,
                                    .parking = {-1, -1, -1}};
    enum pw_err rc = pw_outbox_stats(app->relay.outbox, &st->outbox_pending,
                                     &st->outbox_dead_letters,
                                     &st->outbox_oldest_ms, err);
    return rc ? rc : pw_store_parking_stats(app->store, &st->parking, err);
}

static enum pw_err app_finish(void *self, struct pw_errbuf *err)
{
    struct pw_app *app = self;
    enum pw_err rc = pw_uow_settle(app->uow, err);
    enum pw_err ended = pw_runs_end(&app->runs, app->store, rc ? NULL : err);
    return rc ? rc : ended;
}

static enum pw_err app_position(void *self, const char *group, const char *topic,
                                int32_t partition, int64_t *offset, struct pw_errbuf *err)
{
    struct pw_app *app = self;
    enum pw_err rc = pw_uow_settle(app->uow, err); /* the offsets a commit on its way stores */
    return rc ? rc : pw_store_offset_get(app->store, group, topic, partition, offset, err);
}

static const struct pw_service_ops app_service_ops = {
    .name = "app",
    .run = app_run,
    .drain = app_drain,
    .publish = app_publish,
    .stats = app_stats,
    .finish = app_finish,
    .position = app_position,
};

struct pw_service pw_app_service(struct pw_app *app)
{
    return (struct pw_service){.ops = &app_service_ops, .self = app};
}
