/* The in-memory world that dispatch and relay tests run in. */
#include "tests/helpers.h"

#include <criterion/criterion.h>

#include "adapters/fault/fault.h"
#include <stdlib.h>

static void inmem_open(struct store *s)
{
    struct pw_inmem_store *store = pw_inmem_store_new();
    cr_assert(store);
    cr_assert_eq(pw_inmem_uow_open(&s->uow, store), PW_OK);
    cr_assert_eq(pw_inmem_uow_open(&s->uow2, store), PW_OK);
    cr_assert_eq(pw_inmem_store_open(&s->st, store), PW_OK);
    cr_assert_eq(pw_inmem_store_open(&s->st2, store), PW_OK);
    cr_assert_eq(pw_inmem_outbox_open(&s->outbox, store), PW_OK);
    cr_assert_eq(pw_inmem_outbox_open(&s->outbox2, store), PW_OK);
    cr_assert_eq(pw_inmem_query_open(&s->q, store), PW_OK);
    s->priv = store;
}

static void inmem_close(struct store *s)
{
    pw_query_close(&s->q);
    pw_outbox_close(&s->outbox2);
    pw_outbox_close(&s->outbox);
    pw_store_close(&s->st2);
    pw_store_close(&s->st);
    pw_uow_close(&s->uow2);
    pw_uow_close(&s->uow);
    pw_inmem_store_free(s->priv);
}

const struct store_adapter store_inmem_adapter = {.open = inmem_open, .close = inmem_close};

/* The in-memory store behind fault wrappers with no fault planned: the wrapper is transparent. */
struct fault_store {
    struct store inner;
    struct pw_fault plan;
};

static void fault_open(struct store *s)
{
    struct fault_store *f = calloc(1, sizeof *f);
    cr_assert(f);
    inmem_open(&f->inner);
    cr_assert_eq(pw_fault_uow_open(&s->uow, &f->inner.uow, &f->plan), PW_OK);
    cr_assert_eq(pw_fault_uow_open(&s->uow2, &f->inner.uow2, &f->plan), PW_OK);
    cr_assert_eq(pw_fault_store_open(&s->st, &f->inner.st, &f->plan), PW_OK);
    cr_assert_eq(pw_fault_store_open(&s->st2, &f->inner.st2, &f->plan), PW_OK);
    cr_assert_eq(pw_fault_outbox_open(&s->outbox, &f->inner.outbox, &f->plan), PW_OK);
    cr_assert_eq(pw_fault_outbox_open(&s->outbox2, &f->inner.outbox2, &f->plan), PW_OK);
    s->q = f->inner.q; /* the read side has no faults to plan: the inner store's own */
    s->priv = f;
}

static void fault_close(struct store *s)
{
    struct fault_store *f = s->priv;
    cr_assert_eq(f->plan.failures, 0, "no fault was planned, so none was injected");
    cr_assert_gt(f->plan.calls, 0, "the calls went through the wrappers");
    pw_outbox_close(&s->outbox2);
    pw_outbox_close(&s->outbox);
    pw_store_close(&s->st2);
    pw_store_close(&s->st);
    pw_uow_close(&s->uow2);
    pw_uow_close(&s->uow);
    inmem_close(&f->inner);
    free(f);
}

const struct store_adapter store_fault_adapter = {.open = fault_open, .close = fault_close};

void world_open_on(struct world *w, const struct store_adapter *adapter)
{
    memset(w, 0, sizeof *w);
    w->adapter = adapter;
    adapter->open(&w->s);
    w->uow = w->s.uow;
    w->st = w->s.st;
    w->outbox = w->s.outbox;
    cr_assert_eq(pw_inmem_bus_open(&w->bus), PW_OK);
    pw_uuid_ids_open(&w->ids);
    struct pw_app_ports ports = {.uow = &w->uow, .store = &w->st, .outbox = &w->outbox,
                                 .bus = &w->bus, .ids = &w->ids};
    struct pw_app_config cfg = {.events_topic = "post-events", .dlq_topic = "post-commands.dlq",
                                .relay_batch = 4, .flush_timeout_ms = 1000};
    cr_assert_eq(pw_app_open(&w->app, &ports, &cfg), PW_OK);
}

void world_open_like(struct world *w, const struct world *other)
{
    world_open_on(w, other->adapter);
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
    w->adapter->close(&w->s);
}

enum pw_outcome_kind world_run(struct world *w, struct pw_cmd cmd, enum pw_err *code)
{
    struct pw_outcome out;
    enum pw_outcome_kind kind = world_dispatch(w, &cmd, &out);
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

void app_on_uow(struct pw_app *app, struct pw_uow *uow, struct pw_store *st, struct pw_ids *ids)
{
    struct pw_app_ports ports = {.uow = uow, .store = st, .ids = ids};
    struct pw_app_config cfg = {.events_topic = "post-events", .dlq_topic = "post-commands.dlq"};
    cr_assert_eq(pw_app_open(app, &ports, &cfg), PW_OK);
}

size_t world_dead_letters(struct world *w, const struct pw_out **out, size_t max)
{
    size_t n, got = 0;
    const struct pw_out *rows = pw_inmem_bus_delivered(&w->bus, &n);
    for (size_t i = 0; i < n; i++)
        if (rows[i].kind == PW_OUT_DEAD_LETTER && got < max)
            out[got++] = &rows[i];
    return got;
}

static void assert_bytes_eq(const void *got, size_t got_len, const void *want, size_t want_len,
                            const char *what)
{
    cr_assert_eq(got == NULL, want == NULL, "%s: null stays null, and only null", what);
    cr_assert_eq(got_len, want_len, "%s: %zu bytes, not %zu", what, got_len, want_len);
    if (want_len)
        cr_assert_eq(memcmp(got, want, want_len), 0, "%s byte for byte", what);
}

void assert_dead_letter_eq(const struct pw_dead_letter *got, const struct pw_dead_letter *want)
{
    const struct pw_origin *g = &got->origin, *w = &want->origin;
    cr_assert_eq(got->code, want->code);
    cr_assert_str_eq(got->message, want->message);
    cr_assert_eq(got->attempts, want->attempts);
    cr_assert_str_eq(g->group, w->group);
    cr_assert_str_eq(g->topic, w->topic);
    cr_assert_eq(g->partition, w->partition);
    cr_assert_eq(g->offset, w->offset);
    cr_assert_eq(g->timestamp_ms, w->timestamp_ms);
    assert_bytes_eq(g->key, g->key_len, w->key, w->key_len, "the key");
    assert_bytes_eq(g->value, g->value_len, w->value, w->value_len, "the value");
    cr_assert_eq(g->nheaders, w->nheaders, "the original headers, and only those");
    for (size_t i = 0; i < w->nheaders; i++) {
        cr_assert_str_eq(g->headers[i].name, w->headers[i].name, "header %zu", i);
        assert_bytes_eq(g->headers[i].value, g->headers[i].len, w->headers[i].value,
                        w->headers[i].len, w->headers[i].name);
    }
}

enum pw_outcome_kind world_dispatch(struct world *w, const struct pw_cmd *cmd,
                                    struct pw_outcome *out)
{
    struct pw_input *in = inputs_of(cmd, 1);
    pw_dispatch_batch(&w->app, in, 1, NULL, 0, false, out, NULL, NULL);
    free(in);
    return out->kind;
}
