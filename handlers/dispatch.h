/*
 * The dispatch entry point: runs decoded commands through their handlers in
 * one unit of work and says, for each, what became of it.
 */
#ifndef PW_HANDLERS_DISPATCH_H
#define PW_HANDLERS_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "domain/command.h"
#include "handlers/registry.h"
#include "ports/ids.h"
#include "ports/uow.h"

enum pw_outcome_kind {
    PW_OUTCOME_APPLIED,   /* state changed; events recorded in the outbox */
    PW_OUTCOME_DUPLICATE, /* (source, id) was processed before; nothing done */
    PW_OUTCOME_REJECTED,  /* refused by a rule (or no handler); err says which */
    PW_OUTCOME_RETRY,     /* a port failed transiently; nothing was kept */
};

/*
 * What became of one command. events are the applied command's events, with
 * their ids, owned by the outcome (pw_outcome_release). For a duplicate,
 * err.code is the outcome first recorded (PW_OK for applied).
 */
struct pw_outcome {
    enum pw_outcome_kind kind;
    struct pw_errbuf err;
    size_t nevents;
    struct pw_event events[PW_CMD_MAX_EVENTS];
};

/* A consumer position to store in the same transaction: next is the next offset to read. */
struct pw_offset {
    const char *topic;
    int32_t partition;
    int64_t next;
};

/*
 * Runs after every command of a batch and before the commit, with their
 * outcomes. A failure rolls the batch back (every outcome RETRY). The Kafka
 * worker makes its dead letters durable here, so that a rejected command is
 * never marked processed while its dead letter could still be lost.
 */
typedef enum pw_err (*pw_before_commit_fn)(void *arg, const struct pw_cmd *cmds,
                                           const struct pw_outcome *outs, size_t n,
                                           struct pw_errbuf *err);

/* The ports a dispatcher runs on; all borrowed, and living longer than it. */
struct pw_dispatcher {
    const struct pw_registry *reg;
    struct pw_uow *uow;
    struct pw_ids *ids;
    pw_before_commit_fn before_commit; /* optional */
    void *before_commit_arg;
};

const char *pw_outcome_kind_name(enum pw_outcome_kind kind);

/*
 * Runs cmds[0..n) in order in one unit of work, storing offsets[0..noffsets)
 * with them, and fills outs[0..n) (which need no initialisation).
 *
 * PW_OK: the unit of work committed; every outcome is applied, duplicate or
 * rejected, and rejected commands are marked processed. Any other code: it
 * did not commit and nothing of it was kept; every outcome is RETRY with the
 * cause, and the caller runs the same batch again (after a backoff if
 * pw_err_is_transient, else it stops). Release outs either way.
 */
enum pw_err pw_dispatch_batch(const struct pw_dispatcher *d, const struct pw_cmd *cmds, size_t n,
                              const struct pw_offset *offsets, size_t noffsets,
                              struct pw_outcome *outs, struct pw_errbuf *err);

/* One command, its own unit of work; returns its outcome's kind. */
enum pw_outcome_kind pw_dispatch(const struct pw_dispatcher *d, const struct pw_cmd *cmd,
                                 struct pw_outcome *out);

/* Frees the outcome's events; safe on a zeroed outcome. */
void pw_outcome_release(struct pw_outcome *out);

#endif
