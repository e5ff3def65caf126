/*
 * The failure path, in one home: the service's run of a batch, and what
 * happens when it fails. The normal path is one record of the run (one
 * write, handlers/runs.c) and one transaction.
 *
 * - A command the store refuses (kind failed) is found by halves: the
 *   batch's first half, then its second, each split again while it fails,
 *   so that one bad command in 500 costs about twenty transactions, not
 *   five hundred. Halves keep the batch's order, so a post's commands
 *   still run in order, and whatever follows a failed command of its post
 *   finds the post parked.
 * - A run whose process died (the record says so) only says where to look:
 *   the batch then runs one message at a time, each one counted alone, and
 *   only a death while a message ran alone counts against it. A message
 *   whose runs alone died before goes first, so that a restart which makes
 *   any progress has run it to an end. After max_attempts such deaths it
 *   is set aside undecoded.
 * - A run the store keeps cutting off (statement_timeout:
 *   PW_E_INTERRUPTED) ISO_CUT_LIMIT times counts as one that died, so that
 *   a command which does that ends as failed instead of stalling its
 *   partition for good.
 *
 * The batch is known by the seq its caller gives it: run again with the
 * same seq after a failure, what was finished stays finished.
 */
#include "handlers/app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ISO_CUT_LIMIT 3

void pw_isolation_release(struct pw_isolation *iso)
{
    free(iso->done);
    free(iso->outs);
    free(iso->idx);
    free(iso->in);
    free(iso->run_outs);
    memset(iso, 0, sizeof *iso);
}

/* Takes up batch b: the same seq keeps what was finished, a new one starts afresh. */
static enum pw_err iso_bind(struct pw_isolation *iso, const struct pw_batch *b,
                            struct pw_errbuf *err)
{
    if (iso->seq == b->seq && iso->n == b->n)
        return PW_OK;
    if (b->n > iso->cap) {
        size_t cap = b->n;
        unsigned char *done = realloc(iso->done, cap);
        if (done)
            iso->done = done;
        struct pw_outcome *outs = realloc(iso->outs, cap * sizeof *outs);
        if (outs)
            iso->outs = outs;
        size_t *idx = realloc(iso->idx, cap * sizeof *idx);
        if (idx)
            iso->idx = idx;
        struct pw_input *in = realloc(iso->in, cap * sizeof *in);
        if (in)
            iso->in = in;
        struct pw_outcome *run_outs = realloc(iso->run_outs, cap * sizeof *run_outs);
        if (run_outs)
            iso->run_outs = run_outs;
        if (!done || !outs || !idx || !in || !run_outs)
            return pw_err_set(err, PW_E_NOMEM, "out of memory for a batch of %zu", b->n);
        iso->cap = cap;
    }
    iso->seq = b->seq;
    iso->n = b->n;
    memset(iso->done, 0, b->n);
    iso->alone = iso->resolved = false;
    iso->cut = iso->declared = 0;
    iso->cut_n = 0;
    return PW_OK;
}

/* Runs of held commands are counted too, though they store no offsets. */
static bool iso_counted(const struct pw_batch *b)
{
    return b->noffsets > 0 || (b->n == 1 && b->in[0].held);
}

/* Where the run of L[0..n) leaves each of its partitions, into offs; how many. */
static size_t iso_offsets(const struct pw_batch *b, const size_t *L, size_t n,
                          struct pw_offset *offs)
{
    size_t k = 0;
    for (size_t j = 0; j < n; j++) {
        const struct pw_origin *o = &b->in[L[j]].origin;
        for (size_t i = 0; i < b->noffsets; i++) {
            const struct pw_offset *bo = &b->offsets[i];
            if (bo->partition != o->partition || strcmp(bo->topic, o->topic) != 0)
                continue;
            size_t at = 0;
            while (at < k && offs[at].partition != o->partition)
                at++;
            if (at == k)
                offs[k++] = *bo;
            offs[at].next = o->offset + 1; /* L is in order: the last one wins */
        }
    }
    return k;
}

/* Sets message i aside as code; its own offset stored with it. */
static enum pw_err iso_set_aside(struct pw_app *app, const struct pw_batch *b, size_t i,
                                 enum pw_err code, const char *cause, unsigned attempts,
                                 struct pw_errbuf *err)
{
    struct pw_isolation *iso = &app->iso;
    struct pw_offset own[1];
    size_t nown = iso_offsets(b, &i, 1, own);
    enum pw_err rc = pw_dispatch_set_aside(app, &b->in[i], code, cause, attempts, own, nown,
                                           &iso->outs[i], err);
    if (!rc) {
        iso->done[i] = 1;
        b->outs[i] = iso->outs[i];
    }
    return rc;
}

static enum pw_err iso_give_up(struct pw_app *app, const struct pw_batch *b, size_t i,
                               unsigned deaths, struct pw_errbuf *err)
{
    char cause[200];
    snprintf(cause, sizeof cause,
             "the process running it died, or the store cut it off, %u times; given up after "
             "POSTWORKER_MAX_ATTEMPTS=%u",
             deaths, app->max_attempts);
    return iso_set_aside(app, b, i, PW_E_MAX_ATTEMPTS, cause, deaths, err);
}

/*
 * A run cut off by the store: the same run again, until it was cut off
 * ISO_CUT_LIMIT times; then it counts as one that died. A run of many is
 * this batch's (the caller reruns it before anything else); a run alone is
 * counted with its place (pw_runs_cut), since a drain's reruns have the
 * worker's batches in between.
 */
static enum pw_err iso_cut(struct pw_app *app, const struct pw_batch *b, const size_t *L,
                           size_t n, enum pw_err rc)
{
    struct pw_isolation *iso = &app->iso;
    if (n == 1 && iso_counted(b)) {
        if (pw_runs_cut(&app->runs, &b->in[L[0]]) >= ISO_CUT_LIMIT)
            pw_runs_forget(&app->runs, &b->in[L[0]]); /* the next record counts a death */
        return rc;
    }
    if (iso->cut_first != L[0] || iso->cut_n != n) {
        iso->cut_first = L[0];
        iso->cut_n = n;
        iso->cut = 0;
    }
    if (++iso->cut < ISO_CUT_LIMIT)
        return rc;
    iso->cut = 0;
    if (n > 1)
        iso->alone = true; /* where to look: one message at a time */
    else
        iso->declared++;
    return rc;
}

static enum pw_err iso_list(struct pw_app *app, const struct pw_batch *b, const size_t *L,
                            size_t n, unsigned tries, bool recorded, struct pw_errbuf *err);

static enum pw_err iso_each_alone(struct pw_app *app, const struct pw_batch *b, const size_t *L,
                                  size_t n, struct pw_errbuf *err)
{
    enum pw_err rc = PW_OK;
    for (size_t j = 0; j < n && !rc; j++)
        if (!app->iso.done[L[j]])
            rc = iso_list(app, b, &L[j], 1, 1, false, err);
    return rc;
}

/*
 * Messages of L[0..n) below their partition's stored offset were finished
 * by another worker, which took the partition over while this one was
 * paused: done, as duplicates, and not run again (a command given up
 * there is not in the inbox, and would otherwise be applied after the
 * ones that followed it). Then the rest runs on its own. false (with *rc)
 * when that decided the run.
 */
static bool iso_stale(struct pw_app *app, const struct pw_batch *b, const size_t *L, size_t n,
                      enum pw_err *rc, struct pw_errbuf *err)
{
    struct pw_isolation *iso = &app->iso;
    size_t dropped = 0;
    for (size_t i = 0; i < app->runs.nstarts; i++) {
        const struct pw_run_start *s = &app->runs.starts[i];
        for (size_t j = 0; s->stored >= 0 && j < n; j++) {
            const struct pw_input *in = &b->in[L[j]];
            if (in->held || in->origin.partition != s->partition ||
                strcmp(in->origin.topic, s->topic) != 0 || in->origin.offset >= s->stored)
                continue;
            iso->outs[L[j]] = (struct pw_outcome){.kind = PW_OUTCOME_DUPLICATE};
            b->outs[L[j]] = iso->outs[L[j]];
            iso->done[L[j]] = 1;
            dropped++;
        }
    }
    if (!dropped)
        return true;
    size_t m = 0, *rest = malloc(n * sizeof *rest);
    if (!rest) {
        *rc = pw_err_set(err, PW_E_NOMEM, "out of memory after a rebalance");
        return false;
    }
    for (size_t j = 0; j < n; j++)
        if (!iso->done[L[j]])
            rest[m++] = L[j];
    *rc = m ? iso_list(app, b, rest, m, 1, false, err) : PW_OK;
    free(rest);
    return false;
}

/*
 * Records the run of L[0..n) (when counted). false with *rc set when the
 * record decided it: an error, or a message given up, or a death seen that
 * sends the run one message at a time.
 */
static bool iso_record(struct pw_app *app, const struct pw_batch *b, const size_t *L, size_t n,
                       enum pw_err *rc, struct pw_errbuf *err)
{
    struct pw_isolation *iso = &app->iso;
    if (!iso_counted(b)) {
        if (n == 1 && iso->declared >= app->max_attempts) {
            *rc = iso_give_up(app, b, L[0], iso->declared, err);
            return false;
        }
        return true;
    }
    if ((*rc = pw_runs_start(&app->runs, app->store, b->in, L, n, err)) ||
        !iso_stale(app, b, L, n, rc, err))
        return false;
    unsigned deaths = n == 1 ? pw_runs_deaths(&app->runs, &b->in[L[0]]) : 0;
    if (n == 1 && deaths >= app->max_attempts) {
        *rc = iso_give_up(app, b, L[0], deaths, err);
        return false;
    }
    if (n == 1)
        return true;
    for (size_t i = 0; i < app->runs.nstarts; i++)
        if (app->runs.starts[i].died) {
            iso->alone = true;
            *rc = iso_each_alone(app, b, L, n, err);
            return false;
        }
    return true;
}

/* Decodes what is not yet, and runs L[0..n) in one transaction; the outcomes into b->outs. */
static enum pw_err iso_dispatch(struct pw_app *app, const struct pw_batch *b, const size_t *L,
                                size_t n, struct pw_errbuf *err)
{
    struct pw_isolation *iso = &app->iso;
    for (size_t j = 0; j < n; j++) {
        struct pw_input *in = &b->in[L[j]];
        if (!in->ready && b->decode)
            b->decode(in);
        in->ready = true;
    }
    bool whole = n == b->n, resolved = false;
    enum pw_err rc;
    if (whole) { /* the normal path: the batch as it came, nothing copied */
        rc = pw_dispatch_batch(app, b->in, n, b->offsets, b->noffsets, iso->send, b->outs,
                               &resolved, err);
    } else {
        struct pw_offset *offs = malloc((b->noffsets ? b->noffsets : 1) * sizeof *offs);
        if (!offs)
            return pw_err_set(err, PW_E_NOMEM, "out of memory running part of a batch");
        size_t noffs = iso_offsets(b, L, n, offs);
        for (size_t j = 0; j < n; j++)
            iso->in[j] = b->in[L[j]];
        rc = pw_dispatch_batch(app, iso->in, n, offs, noffs, false, iso->run_outs, &resolved,
                               err);
        free(offs);
        /* Kept, for a rerun after a later failure reports what this one did. */
        for (size_t j = 0; j < n && !rc; j++)
            b->outs[L[j]] = iso->outs[L[j]] = iso->run_outs[j];
    }
    if (rc)
        return rc;
    for (size_t j = 0; j < n; j++)
        iso->done[L[j]] = 1;
    iso->resolved |= resolved;
    iso->cut_n = 0;
    iso->declared = 0;
    return PW_OK;
}

/*
 * Runs L[0..n), a stretch of the batch's unfinished messages in order:
 * recorded (unless the caller did), then in one transaction; a refused
 * command is looked for by halves. tries: how many runs held these.
 */
static enum pw_err iso_list(struct pw_app *app, const struct pw_batch *b, const size_t *L,
                            size_t n, unsigned tries, bool recorded, struct pw_errbuf *err)
{
    enum pw_err rc = PW_OK;
    if (!recorded && !iso_record(app, b, L, n, &rc, err))
        return rc;
    rc = iso_dispatch(app, b, L, n, err);
    if (rc == PW_E_INTERRUPTED)
        return iso_cut(app, b, L, n, rc);
    if (pw_err_kind(rc) != PW_KIND_FAILED)
        return rc;
    if (n == 1) {
        struct pw_errbuf cause = *err;
        return iso_set_aside(app, b, L[0], PW_E_APPLY_FAILED, cause.msg, tries, err);
    }
    size_t half = n / 2;
    rc = iso_list(app, b, L, half, tries + 1, false, err);
    return rc ? rc : iso_list(app, b, L + half, n - half, tries + 1, false, err);
}

/*
 * The unfinished messages of the batch: recorded as one run; after a
 * death, the messages whose runs alone died go first, then the rest one at
 * a time.
 */
static enum pw_err iso_pending(struct pw_app *app, const struct pw_batch *b,
                               struct pw_errbuf *err)
{
    struct pw_isolation *iso = &app->iso;
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        if (!iso->done[i])
            iso->idx[n++] = i;
    if (!n)
        return PW_OK;
    const size_t *L = iso->idx;
    if (iso->alone || !iso_counted(b))
        return iso->alone ? iso_each_alone(app, b, L, n, err) : iso_list(app, b, L, n, 1, false, err);
    enum pw_err rc = pw_runs_start(&app->runs, app->store, b->in, L, n, err);
    if (rc || !iso_stale(app, b, L, n, &rc, err))
        return rc;
    bool died = false;
    for (size_t i = 0; i < app->runs.nstarts; i++)
        died |= app->runs.starts[i].died;
    unsigned deaths = n == 1 ? pw_runs_deaths(&app->runs, &b->in[L[0]]) : 0;
    if (n == 1 && deaths >= app->max_attempts)
        return iso_give_up(app, b, L[0], deaths, err);
    if (!died || n == 1)
        return iso_list(app, b, L, n, 1, true, err);
    iso->alone = true;
    /* Those whose runs alone died go first: any progress from here runs them to an end. */
    size_t *first = malloc(app->runs.nstarts * sizeof *first), nfirst = 0;
    if (!first)
        return pw_err_set(err, PW_E_NOMEM, "out of memory after a death");
    for (size_t j = 0; j < n; j++) {
        const struct pw_run_start *s = pw_runs_find(&app->runs, &b->in[L[j]]);
        if (s && s->died && s->deaths && s->offset == b->in[L[j]].origin.offset)
            first[nfirst++] = L[j];
    }
    rc = iso_each_alone(app, b, first, nfirst, err);
    free(first);
    return rc ? rc : iso_each_alone(app, b, L, n, err);
}

static void iso_fail_all(struct pw_outcome *outs, size_t n, const struct pw_errbuf *cause)
{
    for (size_t i = 0; i < n; i++)
        outs[i] = (struct pw_outcome){.kind = PW_OUTCOME_RETRY, .err = *cause};
}

enum pw_err pw_isolate_run(struct pw_app *app, struct pw_batch *b, bool send,
                           struct pw_errbuf *err)
{
    struct pw_errbuf local;
    if (!err)
        err = &local;
    struct pw_isolation *iso = &app->iso;
    iso->send = send;
    enum pw_err rc = iso_bind(iso, b, err);
    for (size_t i = 0; !rc && i < b->n; i++)
        if (iso->done[i]) /* finished by an earlier try of this batch */
            b->outs[i] = iso->outs[i];
    if (!rc)
        rc = iso_pending(app, b, err);
    /* It failed and this process lives on: not a death (a cut-off is counted as one). */
    if (pw_err_is_transient(rc) && rc != PW_E_INTERRUPTED && iso_counted(b))
        pw_runs_end_last(&app->runs, app->store);
    if (rc) {
        iso_fail_all(b->outs, b->n, err);
        return rc;
    }
    b->resolved = iso->resolved;
    iso->seq = 0; /* finished: the same seq again would be a new batch */
    return PW_OK;
}
