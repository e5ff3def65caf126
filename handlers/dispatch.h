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
#include "handlers/relay.h"
#include "ports/ids.h"
#include "ports/service.h"
#include "ports/uow.h"

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

/*
 * The inbound port on a dispatcher and a relay (both borrowed, outliving
 * svc): what bootstrap hands the Kafka worker. impl is the caller's storage.
 */
struct pw_app {
    struct pw_dispatcher d;
    struct pw_relay *relay;
};
void pw_app_service(struct pw_service *svc, struct pw_app *impl);

#endif
