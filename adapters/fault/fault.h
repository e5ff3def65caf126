/*
 * Fault-injecting wrappers: a unit of work, an outbox reader or a bus that
 * passes every call
 * to the one it wraps, except that call number nth (counting from 1, over
 * all operations of that port) fails with code: once, or from then on. They
 * drive the retry and crash-safety tests without a real outage, the way
 * SQLite's test VFS does.
 */
#ifndef PW_ADAPTERS_FAULT_FAULT_H
#define PW_ADAPTERS_FAULT_FAULT_H

#include <stdbool.h>

#include "ports/bus.h"
#include "ports/outbox.h"
#include "ports/store.h"
#include "ports/uow.h"

struct pw_fault {
    unsigned nth;       /* the call that fails; 0 never */
    bool from_then_on;  /* and every call after it */
    enum pw_err code;   /* what it fails with, PW_E_TRANSIENT by default (0) */
    unsigned calls;     /* counted so far */
    unsigned failures;  /* injected so far */
    /*
     * Counting starts only once a unit of work has committed through the
     * wrapper: "fail the nth call after the first commit", a crash of a
     * process that has made progress.
     */
    bool after_commit;
    unsigned commits;   /* transactions committed through the wrapper so far */
    unsigned begins;    /* transactions begun through the wrapper so far */
    /*
     * When set, the process kills itself (SIGKILL, as the kernel's OOM
     * killer would) the moment the inbox is asked about a command of this
     * id: a message that kills whoever runs it, for the tests of
     * POSTWORKER_MAX_ATTEMPTS. Only the test build's worker sets it.
     */
    const char *kill_id;
    /* The same, but the process hangs there for good: a stuck worker, for the liveness probe. */
    const char *hang_id;
    /* The first time the inbox is asked about a command of this id, the call fails transiently. */
    const char *fail_id;
    /*
     * Every transaction that asks the inbox about a command of this id
     * fails: with poison_code at its commit (PW_E_APPLY_FAILED: a
     * constraint refuses the command; PW_E_INTERRUPTED: the store cuts the
     * statement off), or with PW_E_FATAL at once, and then every call of
     * the plan fails until dead is cleared: a process that dies there, in
     * tests that start another.
     */
    const char *poison_id;
    enum pw_err poison_code;
    bool dead;
    /*
     * Asked before each call while not dead (the simulator's faults): op
     * names the call (the wrapper's function, "fault_uow_commit"), id the
     * command the inbox is asked about, "send" for a commit sent without
     * waiting (commit_send), else NULL. PW_OK lets the call
     * through; another code fails it, with err set, and the hook may set
     * dead first: a process that dies there. For an inbox question,
     * PW_E_APPLY_FAILED or PW_E_INTERRUPTED fails the transaction at its
     * commit instead: a command the store refuses.
     */
    enum pw_err (*hook)(void *ctx, struct pw_fault *plan, const char *op, const char *id,
                        struct pw_errbuf *err);
    void *hook_ctx;
};

/*
 * Wraps inner (borrowed, outliving the wrapper) with plan (borrowed, the
 * caller's, so a test can rearm it). PW_E_NOMEM on failure.
 */
enum pw_err pw_fault_uow_open(struct pw_uow *uow, struct pw_uow *inner, struct pw_fault *plan);
enum pw_err pw_fault_bus_open(struct pw_bus *bus, struct pw_bus *inner, struct pw_fault *plan);
enum pw_err pw_fault_outbox_open(struct pw_outbox *outbox, struct pw_outbox *inner,
                                 struct pw_fault *plan);
enum pw_err pw_fault_store_open(struct pw_store *store, struct pw_store *inner,
                                struct pw_fault *plan);

/*
 * Counts a call of plan, op (about command id, or NULL); true (with *rc and
 * err set) if this one is to fail.
 */
bool pw_fault_hit_at(struct pw_fault *plan, const char *op, const char *id,
                     struct pw_errbuf *err, enum pw_err *rc);
#define pw_fault_hit(plan, err, rc) pw_fault_hit_at((plan), __func__, NULL, (err), (rc))

#endif
