/*
 * The run counter: before a run of messages starts, it is recorded with
 * the data (ports/store.h, runs_start), one start per partition, so that
 * whoever starts there next learns whether this run's process died. It is
 * a counter only: what to run after a death is the failure path's
 * (handlers/isolate.c).
 *
 * Each run gets a token of its own. The memo keeps, per partition, the
 * last run this process started there; it ended alive (the process is
 * still here to ask), so a run that starts there again passes its token as
 * `ended`, and the store counts no death. A death this process declares
 * (a run whose statements the store kept cutting off) is the memo
 * forgetting it.
 */
#ifndef PW_HANDLERS_RUNS_H
#define PW_HANDLERS_RUNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ports/service.h"
#include "ports/store.h"

struct pw_runs_memo {
    int32_t partition;
    int64_t offset;
    uint64_t token;
    unsigned cut; /* how often the store cut off this process's runs alone at offset */
};

struct pw_runs {
    uint64_t instance, next;                  /* tokens are instance + next++, never 0 */
    char group[256], topic[PW_TOPIC_MAX + 1]; /* of every position in memo */
    bool bound;
    struct pw_runs_memo *memo;
    size_t nmemo, cap_memo;
    struct pw_run_start *starts; /* the last record's, one per partition */
    size_t nstarts, cap_starts;
};

/* A counter whose tokens start at instance (any value; a process's own, at random). */
void pw_runs_init(struct pw_runs *r, uint64_t instance);
void pw_runs_release(struct pw_runs *r);

/*
 * Records that a run of in[idx[0..n)] (in run order) starts: at each
 * partition's first message; alone when n is 1. A held command run by a
 * drain counts at its place instead (PW_HELD_PARTITION, its seq). The
 * verdicts are in r->starts[0..r->nstarts) (pw_runs_find). On failure
 * nothing is recorded.
 */
enum pw_err pw_runs_start(struct pw_runs *r, struct pw_store *st, const struct pw_input *in,
                          const size_t *idx, size_t n, struct pw_errbuf *err);

/* The last record's start in in's partition (of its group and topic), or NULL. */
const struct pw_run_start *pw_runs_find(const struct pw_runs *r, const struct pw_input *in);

/*
 * The deaths counted against in so far, as the last record (which must be
 * of a run holding in) saw them: those at its place when its partition's
 * run started at it, 0 otherwise; for a held command, plus the deaths it
 * had before it was held (in->held_deaths), which its old place no longer
 * keeps.
 */
unsigned pw_runs_deaths(const struct pw_runs *r, const struct pw_input *in);

/*
 * Declares the last run this process started in in's partition dead: the
 * next run that starts there counts it as one that died.
 */
void pw_runs_forget(struct pw_runs *r, const struct pw_input *in);

/*
 * The process stops cleanly: every run it recorded and is still here to
 * vouch for ended alive (runs_end), so that whoever starts there next
 * counts no death. The memo is forgotten once that is recorded; kept if
 * the store refused it, so that a process that goes on (a rejoin after
 * lost commits, bootstrap/worker.c) still passes their tokens as ended.
 */
enum pw_err pw_runs_end(struct pw_runs *r, struct pw_store *st, struct pw_errbuf *err);

/*
 * The last record's runs failed, and this process lives on: they ended
 * alive (runs_end), so that its death later, running something else, is
 * not counted against them. Best effort (the store may be the trouble);
 * the memo stays.
 */
void pw_runs_end_last(struct pw_runs *r, struct pw_store *st);

/*
 * One more cut-off of the run of in alone, which this process started last
 * at in's place; how many in all there, kept with the place so that other
 * runs in between (a drain between batches) do not reset it. 0 if this
 * process has no run recorded there.
 */
unsigned pw_runs_cut(struct pw_runs *r, const struct pw_input *in);

#endif
