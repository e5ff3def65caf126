/* Processes for dispatch tests (proc.h). */
#include "tests/proc.h"

#include <criterion/criterion.h>
#include <stdlib.h>

void proc_start(struct proc *p, struct world *w, const struct pw_fault *plan)
{
    memset(p, 0, sizeof *p);
    if (plan)
        p->plan = *plan;
    cr_assert_eq(pw_fault_uow_open(&p->uow, &w->uow, &p->plan), PW_OK);
    cr_assert_eq(pw_fault_store_open(&p->st, &w->st, &p->plan), PW_OK);
    struct pw_app_ports ports = {.uow = &p->uow, .store = &p->st, .outbox = &w->outbox,
                                 .bus = &w->bus, .ids = &w->ids};
    struct pw_app_config cfg = {.events_topic = "post-events", .dlq_topic = "post-commands.dlq",
                                .relay_batch = 64, .flush_timeout_ms = 1000};
    cr_assert_eq(pw_app_open(&p->app, &ports, &cfg), PW_OK);
}

void proc_stop(struct proc *p)
{
    pw_uow_rollback(&p->uow); /* what it had not committed dies with it */
    pw_app_close(&p->app);
    pw_store_close(&p->st);
    pw_uow_close(&p->uow);
}

void proc_finish(struct proc *p)
{
    struct pw_service svc = pw_app_service(&p->app);
    struct pw_errbuf err;
    cr_assert_eq(pw_service_finish(&svc, &err), PW_OK, "%s", err.msg);
    proc_stop(p);
}

enum pw_err proc_run(struct proc *p, struct pw_input *in, size_t n, const struct pw_offset *offs,
                     size_t noffs, bool again, struct pw_outcome *outs, bool *resolved,
                     struct pw_errbuf *err)
{
    if (!again || !p->seq)
        p->seq++;
    struct pw_batch b = {.seq = p->seq, .in = in, .n = n, .offsets = offs, .noffsets = noffs,
                         .outs = outs};
    struct pw_service svc = pw_app_service(&p->app);
    enum pw_err rc = pw_service_run(&svc, &b, err);
    if (resolved)
        *resolved = b.resolved;
    return rc;
}

size_t proc_drain(struct proc *p, pw_decode_fn decode)
{
    struct pw_service svc = pw_app_service(&p->app);
    size_t total = 0, n;
    do {
        const struct pw_input *in;
        const struct pw_outcome *outs;
        struct pw_errbuf err;
        cr_assert_eq(pw_service_drain(&svc, decode, &in, &outs, &n, &err), PW_OK, "%s", err.msg);
        total += n;
    } while (n);
    return total;
}

struct pw_input *inputs_at(const struct pw_cmd *cmds, size_t n, int32_t partition, int64_t first)
{
    struct pw_input *in = inputs_of(cmds, n);
    for (size_t i = 0; i < n; i++) {
        in[i].origin.group = "g";
        in[i].origin.topic = "post-commands";
        in[i].origin.partition = partition;
        in[i].origin.offset = first + (int64_t)i;
        in[i].origin.key = cmds[i].post_id;
        in[i].origin.key_len = cmds[i].post_id ? strlen(cmds[i].post_id) : 0;
        in[i].origin.value = cmds[i].env.id; /* bytes of its own, for a dead letter to carry */
        in[i].origin.value_len = strlen(cmds[i].env.id);
    }
    return in;
}

int64_t post_version(struct world *w, const char *post_id)
{
    struct pw_post post = {0};
    cr_assert_eq(pw_uow_begin(&w->uow, NULL), PW_OK);
    struct pw_repo repo = pw_uow_posts(&w->uow);
    enum pw_err rc = pw_repo_get(&repo, post_id, &post, NULL);
    pw_uow_rollback(&w->uow);
    cr_assert(rc == PW_OK || rc == PW_E_NOT_FOUND, "reading post %s: %s", post_id,
              pw_err_name(rc));
    int64_t version = rc ? 0 : post.version;
    pw_post_release(&post);
    return version;
}

static const struct pw_cmd *table;
static size_t ntable;

void decode_table(const struct pw_cmd *cmds, size_t n)
{
    table = cmds;
    ntable = n;
}

void decode_by_id(struct pw_input *in)
{
    const struct pw_origin *o = &in->origin;
    pw_err_set(&in->decoded, PW_E_INVALID_JSON, "no command has the value");
    for (size_t i = 0; i < ntable; i++)
        if (o->value && strlen(table[i].env.id) == o->value_len &&
            memcmp(table[i].env.id, o->value, o->value_len) == 0) {
            in->cmd = table[i];
            pw_err_clear(&in->decoded);
        }
    in->ready = true;
}
