/*
 * The run counter (handlers/runs.c) for a process that lives on after its
 * stop could not be recorded: after lost commits the worker finishes (each
 * run it vouches for ended alive) and joins again with the same service
 * (bootstrap/worker.c). Found by the simulator (seed 0xff26281ba881): the
 * store refused that record, the memo was forgotten anyway, and the next
 * run there counted a death that never happened.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "adapters/fault/fault.h"
#include "adapters/inmem/inmem.h"
#include "handlers/runs.h"

static bool refuse_end;

static enum pw_err refuse_hook(void *ctx, struct pw_fault *plan, const char *op, const char *id,
                               struct pw_errbuf *err)
{
    (void)ctx;
    (void)plan;
    (void)id;
    if (refuse_end && strcmp(op, "fault_store_runs_end") == 0)
        return pw_err_set(err, PW_E_TRANSIENT, "injected: the store is away");
    return PW_OK;
}

static struct pw_run_start start_alone(struct pw_runs *r, struct pw_store *st)
{
    struct pw_input in = {.origin = {.group = "g", .topic = "commands", .partition = 0,
                                     .offset = 3, .timestamp_ms = -1}};
    size_t idx = 0;
    struct pw_errbuf err;
    cr_assert_eq(pw_runs_start(r, st, &in, &idx, 1, &err), PW_OK, "%s", err.msg);
    const struct pw_run_start *v = pw_runs_find(r, &in);
    cr_assert_not_null(v);
    return *v;
}

Test(runs, a_stop_the_store_refused_to_record_counts_no_death_if_the_process_lives_on)
{
    struct pw_inmem_store *mem = pw_inmem_store_new();
    cr_assert_not_null(mem);
    struct pw_store inner, st;
    struct pw_fault plan = {.hook = refuse_hook};
    cr_assert_eq(pw_inmem_store_open(&inner, mem), PW_OK);
    cr_assert_eq(pw_fault_store_open(&st, &inner, &plan), PW_OK);
    struct pw_runs r;
    pw_runs_init(&r, 1000);
    struct pw_run_start first = start_alone(&r, &st);
    cr_expect_eq(first.deaths, 0);
    struct pw_errbuf err;
    refuse_end = true;
    cr_expect_neq(pw_runs_end(&r, &st, &err), PW_OK, "the store refuses the record");
    refuse_end = false;
    struct pw_run_start again = start_alone(&r, &st);
    cr_expect_eq(again.ended, first.token, "it vouches for its run at the next start");
    cr_expect_not(again.died, "the same process, alive: no death");
    cr_expect_eq(again.deaths, 0);
    cr_expect_eq(pw_runs_end(&r, &st, &err), PW_OK, "%s", err.msg);
    pw_runs_release(&r);
    pw_store_close(&st);
    pw_store_close(&inner);
    pw_inmem_store_free(mem);
}
