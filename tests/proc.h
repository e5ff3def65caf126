/*
 * A "process" in a dispatch test: the application opened afresh on a
 * world's store, behind a fault plan, as a worker that starts, runs batches
 * (each with a seq of its own, or the same one again) and may die. A death
 * is closing it with whatever it had not committed: the store keeps what
 * was committed and the counts of runs, nothing else.
 */
#ifndef PW_TESTS_PROC_H
#define PW_TESTS_PROC_H

#include "adapters/fault/fault.h"
#include "tests/helpers.h"

struct proc {
    struct pw_fault plan;
    struct pw_uow uow;
    struct pw_store st;
    struct pw_app app;
    uint64_t seq;
};

/* Starts p on w's store and relay ports, its calls behind plan (NULL: none fails). */
void proc_start(struct proc *p, struct world *w, const struct pw_fault *plan);
void proc_stop(struct proc *p);
/* A clean stop: the application finishes (ports/service.h), then p stops. */
void proc_finish(struct proc *p);

/*
 * Runs in[0..n) as a new batch (again: the same batch as the last run),
 * storing offs[0..noffs). decode may be NULL. *resolved (may be NULL) as
 * the batch's.
 */
enum pw_err proc_run(struct proc *p, struct pw_input *in, size_t n, const struct pw_offset *offs,
                     size_t noffs, bool again, struct pw_outcome *outs, bool *resolved,
                     struct pw_errbuf *err);

/* Drains held commands until none waits; how many ran. */
size_t proc_drain(struct proc *p, pw_decode_fn decode);

/* Inputs for cmds[0..n) (borrowed) at partition of the commands topic, group "g", offsets from first. */
struct pw_input *inputs_at(const struct pw_cmd *cmds, size_t n, int32_t partition, int64_t first);

/*
 * A codec for tests (pw_decode_fn): an input whose value is a command's id
 * (as inputs_at makes them) decodes to that command of the table given to
 * decode_table (borrowed; the commands' strings are static).
 */
void decode_table(const struct pw_cmd *cmds, size_t n);
void decode_by_id(struct pw_input *in);

/* The post as w's store holds it: its version, 0 if there is none. */
int64_t post_version(struct world *w, const char *post_id);

#endif
