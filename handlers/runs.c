/*
 * The run counter (runs.h). In the normal path a batch costs one record,
 * covering all of its partitions; a batch that commits moves every
 * partition's start on, so a start at the same offset again means the run
 * before it did not finish.
 */
#include "handlers/runs.h"

#include <stdlib.h>
#include <string.h>

void pw_runs_init(struct pw_runs *r, uint64_t instance)
{
    memset(r, 0, sizeof *r);
    r->instance = instance;
}

void pw_runs_release(struct pw_runs *r)
{
    free(r->memo);
    free(r->starts);
    memset(r, 0, sizeof *r);
}

/* Binds the memo to group and topic, forgetting what it held for others; false if it cannot. */
static bool runs_bind(struct pw_runs *r, const char *group, const char *topic)
{
    if (r->bound && strcmp(r->group, group) == 0 && strcmp(r->topic, topic) == 0)
        return true;
    r->nmemo = 0;
    r->bound = strlen(group) < sizeof r->group && strlen(topic) < sizeof r->topic;
    if (r->bound) {
        strcpy(r->group, group);
        strcpy(r->topic, topic);
    }
    return r->bound;
}

/* Where in's runs are counted: its partition and offset, or a held command's place. */
static void runs_place(const struct pw_input *in, int32_t *partition, int64_t *offset)
{
    *partition = in->held ? PW_HELD_PARTITION : in->origin.partition;
    *offset = in->held ? (int64_t)in->held : in->origin.offset;
}

static struct pw_runs_memo *runs_memo(struct pw_runs *r, const struct pw_input *in)
{
    const struct pw_origin *o = &in->origin;
    int32_t partition;
    int64_t offset;
    runs_place(in, &partition, &offset);
    if (!r->bound || strcmp(o->group, r->group) != 0 || strcmp(o->topic, r->topic) != 0)
        return NULL;
    for (size_t i = 0; i < r->nmemo; i++)
        if (r->memo[i].partition == partition)
            return &r->memo[i];
    return NULL;
}

/* Remembers s as this process's last run in its partition; forgetting is safe, so no error. */
static void runs_keep(struct pw_runs *r, const struct pw_run_start *s)
{
    if (!r->bound || strcmp(s->group, r->group) != 0 || strcmp(s->topic, r->topic) != 0)
        return;
    struct pw_runs_memo *m = NULL;
    for (size_t i = 0; i < r->nmemo && !m; i++)
        if (r->memo[i].partition == s->partition)
            m = &r->memo[i];
    if (!m) {
        if (r->nmemo == r->cap_memo) {
            size_t cap = r->cap_memo ? 2 * r->cap_memo : 16;
            struct pw_runs_memo *v = realloc(r->memo, cap * sizeof *v);
            if (!v)
                return; /* then the next run here counts this one dead: one more try, never less */
            r->memo = v;
            r->cap_memo = cap;
        }
        m = &r->memo[r->nmemo++];
        m->offset = -1;
    }
    unsigned cut = m->offset == s->offset && m->partition == s->partition ? m->cut : 0;
    *m = (struct pw_runs_memo){.partition = s->partition, .offset = s->offset, .token = s->token,
                               .cut = cut};
}

enum pw_err pw_runs_start(struct pw_runs *r, struct pw_store *st, const struct pw_input *in,
                          const size_t *idx, size_t n, struct pw_errbuf *err)
{
    r->nstarts = 0;
    if (!n)
        return PW_OK;
    runs_bind(r, in[idx[0]].origin.group, in[idx[0]].origin.topic);
    for (size_t i = 0; i < n; i++) {
        const struct pw_input *one = &in[idx[i]];
        const struct pw_origin *o = &one->origin;
        if (pw_runs_find(r, one))
            continue; /* not its partition's first message in the run */
        if (r->nstarts == r->cap_starts) {
            size_t cap = r->cap_starts ? 2 * r->cap_starts : 16;
            struct pw_run_start *v = realloc(r->starts, cap * sizeof *v);
            if (!v)
                return pw_err_set(err, PW_E_NOMEM, "out of memory counting runs");
            r->starts = v;
            r->cap_starts = cap;
        }
        const struct pw_runs_memo *m = runs_memo(r, one);
        int32_t partition;
        int64_t offset;
        runs_place(one, &partition, &offset);
        if (++r->next + r->instance == 0)
            r->next++;
        r->starts[r->nstarts++] = (struct pw_run_start){
            .group = o->group, .topic = o->topic, .partition = partition, .offset = offset,
            .alone = n == 1, .token = r->instance + r->next, .stored = -1,
            .ended = m && m->offset == offset ? m->token : 0};
    }
    enum pw_err rc = pw_store_runs_start(st, r->starts, r->nstarts, err);
    if (rc) {
        r->nstarts = 0;
        return rc;
    }
    for (size_t i = 0; i < r->nstarts; i++)
        runs_keep(r, &r->starts[i]);
    return PW_OK;
}

const struct pw_run_start *pw_runs_find(const struct pw_runs *r, const struct pw_input *in)
{
    int32_t partition;
    int64_t offset;
    runs_place(in, &partition, &offset);
    for (size_t i = 0; i < r->nstarts; i++) {
        const struct pw_run_start *s = &r->starts[i];
        if (s->partition == partition && strcmp(s->topic, in->origin.topic) == 0 &&
            strcmp(s->group, in->origin.group) == 0)
            return s;
    }
    return NULL;
}

unsigned pw_runs_deaths(const struct pw_runs *r, const struct pw_input *in)
{
    const struct pw_run_start *s = pw_runs_find(r, in);
    int32_t partition;
    int64_t offset;
    runs_place(in, &partition, &offset);
    return (s && s->offset == offset ? s->deaths : 0) + (in->held ? in->held_deaths : 0);
}

void pw_runs_forget(struct pw_runs *r, const struct pw_input *in)
{
    struct pw_runs_memo *m = runs_memo(r, in);
    if (m)
        *m = r->memo[--r->nmemo];
}

enum pw_err pw_runs_end(struct pw_runs *r, struct pw_store *st, struct pw_errbuf *err)
{
    if (!r->nmemo)
        return PW_OK;
    struct pw_run_start *v = calloc(r->nmemo, sizeof *v);
    if (!v)
        return pw_err_set(err, PW_E_NOMEM, "out of memory ending runs");
    for (size_t i = 0; i < r->nmemo; i++)
        v[i] = (struct pw_run_start){.group = r->group, .topic = r->topic,
                                     .partition = r->memo[i].partition,
                                     .offset = r->memo[i].offset, .token = r->memo[i].token};
    enum pw_err rc = pw_store_runs_end(st, v, r->nmemo, err);
    free(v);
    if (!rc) /* else kept: a process that lives on still vouches for them at their next start */
        r->nmemo = 0;
    return rc;
}

void pw_runs_end_last(struct pw_runs *r, struct pw_store *st)
{
    struct pw_errbuf err;
    if (r->nstarts)
        (void)pw_store_runs_end(st, r->starts, r->nstarts, &err);
}

unsigned pw_runs_cut(struct pw_runs *r, const struct pw_input *in)
{
    struct pw_runs_memo *m = runs_memo(r, in);
    int32_t partition;
    int64_t offset;
    runs_place(in, &partition, &offset);
    return m && m->offset == offset ? ++m->cut : 0;
}
