/* The in-memory world that dispatch and relay tests run in. */
#include "tests/helpers.h"

#include <criterion/criterion.h>
#include <stdlib.h>

void world_open(struct world *w)
{
    memset(w, 0, sizeof *w);
    w->store = pw_inmem_store_new();
    cr_assert(w->store);
    cr_assert_eq(pw_inmem_uow_open(&w->uow, w->store), PW_OK);
    cr_assert_eq(pw_inmem_outbox_open(&w->outbox, w->store), PW_OK);
    cr_assert_eq(pw_inmem_bus_open(&w->bus), PW_OK);
    pw_uuid_ids_open(&w->ids);
    struct pw_app_ports ports = {.uow = &w->uow, .outbox = &w->outbox, .bus = &w->bus,
                                 .ids = &w->ids};
    struct pw_app_config cfg = {.events_topic = "post-events", .dlq_topic = "post-commands.dlq",
                                .relay_batch = 4, .flush_timeout_ms = 1000};
    cr_assert_eq(pw_app_open(&w->app, &ports, &cfg), PW_OK);
}

struct pw_input *inputs_of(const struct pw_cmd *cmds, size_t n)
{
    struct pw_input *in = calloc(n ? n : 1, sizeof *in);
    cr_assert(in);
    for (size_t i = 0; i < n; i++) {
        in[i].origin = (struct pw_origin){.group = "", .topic = "", .timestamp_ms = -1};
        in[i].cmd = cmds[i];
    }
    return in;
}

void world_close(struct world *w)
{
    pw_app_close(&w->app);
    pw_bus_close(&w->bus);
    pw_outbox_close(&w->outbox);
    pw_uow_close(&w->uow);
    pw_inmem_store_free(w->store);
}

enum pw_outcome_kind world_run(struct world *w, struct pw_cmd cmd, enum pw_err *code)
{
    struct pw_outcome out;
    enum pw_outcome_kind kind = pw_dispatch(&w->app, &cmd, &out);
    if (code)
        *code = out.err.code;
    return kind;
}

const struct pw_event *world_published(struct world *w, size_t *n)
{
    struct pw_errbuf err;
    cr_assert_eq(pw_relay_drain(&w->app.relay, NULL, &err), PW_OK, "%s", err.msg);
    return pw_inmem_bus_events(&w->bus, n);
}

void app_on_uow(struct pw_app *app, struct pw_uow *uow, struct pw_ids *ids)
{
    struct pw_app_ports ports = {.uow = uow, .ids = ids};
    struct pw_app_config cfg = {.events_topic = "post-events", .dlq_topic = "post-commands.dlq"};
    cr_assert_eq(pw_app_open(app, &ports, &cfg), PW_OK);
}
