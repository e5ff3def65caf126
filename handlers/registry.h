/*
 * The command handler registry: one use case per command type. A handler is
 * run by the dispatcher inside an open unit of work.
 *
 * The handler contract: validate the command and decide with the domain's
 * rules before the first write, so that a rejection (any code of kind
 * PW_KIND_REJECTED) leaves nothing behind and needs no savepoint; then write
 * the new state and return its events (without ids: the dispatcher derives
 * them). Any other failure is passed up and fails the whole batch.
 */
#ifndef PW_HANDLERS_REGISTRY_H
#define PW_HANDLERS_REGISTRY_H

#include <stddef.h>

#include "domain/command.h"
#include "domain/event.h"
#include "ports/repo.h"

/*
 * Runs cmd against repo. On PW_OK evs[0..*nevs) hold the events, which the
 * caller then owns; on failure *nevs is 0 and err says why.
 */
typedef enum pw_err (*pw_handler_fn)(struct pw_repo *repo, const struct pw_cmd *cmd,
                                     struct pw_event evs[PW_CMD_MAX_EVENTS], size_t *nevs,
                                     struct pw_errbuf *err);

struct pw_registry {
    pw_handler_fn handlers[PW_CMD__COUNT];
};

/* An empty registry. */
void pw_registry_init(struct pw_registry *reg);

/* Registers fn for type, replacing what was there. */
void pw_registry_add(struct pw_registry *reg, enum pw_cmd_type type, pw_handler_fn fn);

/* The handler for type, or NULL if none is registered. */
pw_handler_fn pw_registry_lookup(const struct pw_registry *reg, enum pw_cmd_type type);

/* Registers the post use cases: CreatePost, UpdatePost, DeletePost. */
void pw_posts_register(struct pw_registry *reg);

#endif
