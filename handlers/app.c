/*
 * The application assembled on its ports, and the inbound port on it. The
 * service is a thin table: run is the dispatcher, publish the relay,
 * position a query of the store.
 */
#include "handlers/app.h"

#include <string.h>

enum pw_err pw_app_open(struct pw_app *app, const struct pw_app_ports *ports,
                        const struct pw_app_config *cfg)
{
    memset(app, 0, sizeof *app);
    pw_registry_init(&app->reg);
    pw_posts_register(&app->reg);
    app->uow = ports->uow;
    app->ids = ports->ids;
    app->events_topic = cfg->events_topic;
    app->dlq_topic = cfg->dlq_topic;
    app->max_attempts = cfg->max_attempts ? cfg->max_attempts : 3;
    return pw_relay_init(&app->relay, ports->outbox, ports->bus, cfg->relay_batch,
                         cfg->flush_timeout_ms);
}

void pw_app_close(struct pw_app *app)
{
    pw_relay_release(&app->relay);
    pw_attempts_release(&app->attempts);
    memset(app, 0, sizeof *app);
}

static enum pw_err app_run(void *self, struct pw_input *in, size_t n, pw_decode_fn decode,
                           const struct pw_offset *offsets, size_t noffsets,
                           struct pw_outcome *outs, struct pw_errbuf *err)
{
    return pw_dispatch_run(self, in, n, decode, offsets, noffsets, outs, err);
}

static enum pw_err app_publish(void *self, enum pw_publish_mode mode,
                               struct pw_publish_result *res, struct pw_errbuf *err)
{
    struct pw_app *app = self;
    uint64_t before = app->relay.events_acked;
    enum pw_err rc;
    res->more = false;
    if (mode == PW_PUBLISH_START)
        rc = pw_relay_send(&app->relay, &res->confirmed, &res->more, err);
    else
        rc = pw_relay_drain(&app->relay, &res->confirmed, err);
    res->events = (size_t)(app->relay.events_acked - before);
    return rc;
}

static enum pw_err app_outbox_stats(void *self, int64_t *pending, int64_t *oldest_ms,
                                    struct pw_errbuf *err)
{
    struct pw_app *app = self;
    return pw_outbox_stats(app->relay.outbox, pending, oldest_ms, err);
}

static enum pw_err app_position(void *self, const char *group, const char *topic,
                                int32_t partition, int64_t *offset, struct pw_errbuf *err)
{
    struct pw_app *app = self;
    return pw_uow_offset_get(app->uow, group, topic, partition, offset, err);
}

static const struct pw_service_ops app_service_ops = {
    .name = "app",
    .run = app_run,
    .publish = app_publish,
    .outbox_stats = app_outbox_stats,
    .position = app_position,
};

struct pw_service pw_app_service(struct pw_app *app)
{
    return (struct pw_service){.ops = &app_service_ops, .self = app};
}
