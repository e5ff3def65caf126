/* The in-memory world that dispatch and relay tests run in. */
#include "tests/helpers.h"

#include <criterion/criterion.h>

void world_open(struct world *w)
{
    memset(w, 0, sizeof *w);
    w->store = pw_inmem_store_new();
    cr_assert(w->store);
    cr_assert_eq(pw_inmem_uow_open(&w->uow, w->store), PW_OK);
    cr_assert_eq(pw_inmem_outbox_open(&w->outbox, w->store), PW_OK);
    cr_assert_eq(pw_inmem_bus_open(&w->bus), PW_OK);
    pw_uuid_ids_open(&w->ids);
    pw_registry_init(&w->reg);
    pw_posts_register(&w->reg);
    w->d = (struct pw_dispatcher){.reg = &w->reg, .uow = &w->uow, .ids = &w->ids};
    cr_assert_eq(pw_relay_init(&w->relay, &w->outbox, &w->bus, 4, 1000), PW_OK);
}

void world_close(struct world *w)
{
    pw_relay_release(&w->relay);
    pw_bus_close(&w->bus);
    pw_outbox_close(&w->outbox);
    pw_uow_close(&w->uow);
    pw_inmem_store_free(w->store);
}

enum pw_outcome_kind world_run(struct world *w, struct pw_cmd cmd, enum pw_err *code)
{
    struct pw_outcome out;
    enum pw_outcome_kind kind = pw_dispatch(&w->d, &cmd, &out);
    if (code)
        *code = out.err.code;
    pw_outcome_release(&out);
    return kind;
}

const struct pw_event *world_published(struct world *w, size_t *n)
{
    struct pw_errbuf err;
    cr_assert_eq(pw_relay_drain(&w->relay, NULL, &err), PW_OK, "%s", err.msg);
    return pw_inmem_bus_events(&w->bus, n);
}
