/*
 * Test helpers: commands built from literals (borrowed strings, mem NULL)
 * and a world of in-memory ports for dispatch tests.
 */
#ifndef PW_TESTS_HELPERS_H
#define PW_TESTS_HELPERS_H

#include <string.h>

#include "adapters/inmem/inmem.h"
#include "adapters/uuid/ids_uuid.h"
#include "domain/command.h"
#include "handlers/app.h"
#include "tests/store_contract.h"

#define T0 ((pw_time)1795168800 * 1000000) /* 2026-11-20T10:00:00Z */

static inline struct pw_cmd cmd_env(enum pw_cmd_type type, const char *source, const char *id,
                                    pw_time at)
{
    struct pw_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = type;
    strcpy(cmd.env.source, source);
    strcpy(cmd.env.id, id);
    cmd.env.time = at;
    return cmd;
}

static inline struct pw_cmd cmd_create(const char *id, const char *post_id, pw_time at)
{
    struct pw_cmd cmd = cmd_env(PW_CMD_CREATE_POST, "/test", id, at);
    cmd.post_id = post_id;
    cmd.author_name = "Ada";
    cmd.title = "Hello";
    cmd.body = "First post";
    return cmd;
}

static inline struct pw_cmd cmd_update(const char *id, const char *post_id, const char *title,
                                       int64_t expected, pw_time at)
{
    struct pw_cmd cmd = cmd_env(PW_CMD_UPDATE_POST, "/test", id, at);
    cmd.post_id = post_id;
    cmd.title = title;
    cmd.expected_version = expected;
    return cmd;
}

static inline struct pw_cmd cmd_delete(const char *id, const char *post_id, int64_t expected,
                                       pw_time at)
{
    struct pw_cmd cmd = cmd_env(PW_CMD_DELETE_POST, "/test", id, at);
    cmd.post_id = post_id;
    cmd.expected_version = expected;
    return cmd;
}

/*
 * The application wired as bootstrap wires it, on a store adapter's ports
 * and an in-memory bus. uow and outbox are the store's first handles.
 */
struct world {
    const struct store_adapter *adapter;
    struct store s;
    struct pw_uow uow;
    struct pw_store st;
    struct pw_outbox outbox;
    struct pw_bus bus;
    struct pw_ids ids;
    struct pw_app app;
};

/* The store adapters: in memory, in memory behind a fault wrapper that never fails, PostgreSQL. */
extern const struct store_adapter store_inmem_adapter;
extern const struct store_adapter store_fault_adapter;
extern const struct store_adapter store_pg_adapter;

/* A world on a fresh store of adapter; world_open_like on the same adapter as other. */
void world_open_on(struct world *w, const struct store_adapter *adapter);
void world_open_like(struct world *w, const struct world *other);
/* An application on uow and st alone (no relay ports), for dispatch-only tests; pw_app_close it. */
void app_on_uow(struct pw_app *app, struct pw_uow *uow, struct pw_store *st, struct pw_ids *ids);

/* Inputs with no origin for cmds[0..n) (borrowed), for pw_dispatch_batch; free() them. */
struct pw_input *inputs_of(const struct pw_cmd *cmds, size_t n);

void world_close(struct world *w);
/* Runs cmd alone, with no origin, in its own unit of work; returns its outcome's kind. */
enum pw_outcome_kind world_dispatch(struct world *w, const struct pw_cmd *cmd,
                                    struct pw_outcome *out);
/* Dispatches one command and returns its outcome kind. */
enum pw_outcome_kind world_run(struct world *w, struct pw_cmd cmd, enum pw_err *code);
/* Asserts that got is want field for field, its bytes and headers byte for byte. */
void assert_dead_letter_eq(const struct pw_dead_letter *got, const struct pw_dead_letter *want);

/* The dead letters the bus delivered so far, oldest first: up to max, borrowed, into out. */
size_t world_dead_letters(struct world *w, const struct pw_out **out, size_t max);
/* Relays the outbox to the bus and returns the bus's delivered events. */
const struct pw_event *world_published(struct world *w, size_t *n);

#endif
