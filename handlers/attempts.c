/*
 * Counting runs, so that a message which kills the process is given up on
 * after POSTWORKER_MAX_ATTEMPTS deaths, whichever worker it killed. A run
 * is counted where it starts in each partition: the store keeps one
 * (offset, tries) per partition. A batch that commits moves every start
 * on, so in the normal path each count is 1 and costs one write per batch.
 * A count above 1 means an earlier run from here never finished: its
 * process died. The memo keeps this process from counting its own reruns.
 */
#include "handlers/app.h"

#include <stdlib.h>
#include <string.h>

static bool same_place(const struct pw_attempt *a, const struct pw_origin *o)
{
    return a->partition == o->partition && strcmp(a->topic, o->topic) == 0 &&
           strcmp(a->group, o->group) == 0;
}

/* Binds the memo to group and topic, forgetting what it held for others; false if it cannot. */
static bool memo_bind(struct pw_attempts *m, const char *group, const char *topic)
{
    if (m->bound && strcmp(m->group, group) == 0 && strcmp(m->topic, topic) == 0)
        return true;
    m->n = 0;
    m->bound = strlen(group) < sizeof m->group && strlen(topic) < sizeof m->topic;
    if (m->bound) {
        strcpy(m->group, group);
        strcpy(m->topic, topic);
    }
    return m->bound;
}

static struct pw_attempt *memo_find(struct pw_attempts *m, int32_t partition)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].partition == partition)
            return &m->v[i];
    return NULL;
}

/* Remembers a's count; forgetting is safe (the next run writes again), so memory failures are not errors. */
static void memo_keep(struct pw_attempts *m, const struct pw_attempt *a)
{
    if (!m->bound || strcmp(a->group, m->group) != 0 || strcmp(a->topic, m->topic) != 0)
        return;
    struct pw_attempt *slot = memo_find(m, a->partition);
    if (!slot) {
        if (m->n == m->cap) {
            size_t cap = m->cap ? 2 * m->cap : 16;
            struct pw_attempt *v = realloc(m->v, cap * sizeof *v);
            if (!v)
                return;
            m->v = v;
            m->cap = cap;
        }
        slot = &m->v[m->n++];
    }
    *slot = (struct pw_attempt){.group = m->group, .topic = m->topic, .partition = a->partition,
                                .offset = a->offset, .tries = a->tries};
}

/* The memo's count for a's position, or 0 if this process has not counted it. */
static unsigned memo_tries(struct pw_attempts *m, const struct pw_attempt *a)
{
    if (!m->bound || strcmp(a->group, m->group) != 0 || strcmp(a->topic, m->topic) != 0)
        return 0;
    const struct pw_attempt *slot = memo_find(m, a->partition);
    return slot && slot->offset == a->offset ? slot->tries : 0;
}

/* Counts a[0..n): those the memo knows from it, the rest from the store in one call. */
static enum pw_err attempts_count(struct pw_attempts *m, struct pw_uow *uow, struct pw_attempt *a,
                                  size_t n, struct pw_errbuf *err)
{
    size_t todo = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned known = memo_tries(m, &a[i]);
        if (known) {
            a[i].tries = known;
        } else { /* those to write go to the front; the order of a is the caller's no more */
            struct pw_attempt t = a[todo];
            a[todo++] = a[i];
            a[i] = t;
        }
    }
    enum pw_err rc = todo ? pw_uow_attempts_start(uow, a, todo, err) : PW_OK;
    for (size_t i = 0; i < todo && !rc; i++)
        memo_keep(m, &a[i]);
    return rc;
}

enum pw_err pw_attempts_batch(struct pw_attempts *m, struct pw_uow *uow,
                              const struct pw_input *in, size_t n, unsigned *tries,
                              struct pw_errbuf *err)
{
    *tries = 1;
    if (!n)
        return PW_OK;
    memo_bind(m, in[0].origin.group, in[0].origin.topic);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct pw_origin *o = &in[i].origin;
        size_t j = 0;
        while (j < k && !same_place(&m->scratch[j], o))
            j++;
        if (j < k)
            continue;
        if (k == m->cap_scratch) {
            size_t cap = m->cap_scratch ? 2 * m->cap_scratch : 16;
            struct pw_attempt *v = realloc(m->scratch, cap * sizeof *v);
            if (!v)
                return pw_err_set(err, PW_E_NOMEM, "out of memory counting attempts");
            m->scratch = v;
            m->cap_scratch = cap;
        }
        m->scratch[k++] = (struct pw_attempt){.group = o->group, .topic = o->topic,
                                              .partition = o->partition, .offset = o->offset,
                                              .tries = 1};
    }
    enum pw_err rc = attempts_count(m, uow, m->scratch, k, err);
    for (size_t j = 0; j < k && !rc; j++)
        if (m->scratch[j].tries > *tries)
            *tries = m->scratch[j].tries;
    return rc;
}

enum pw_err pw_attempts_one(struct pw_attempts *m, struct pw_uow *uow, const struct pw_origin *o,
                            unsigned seed, unsigned *tries, struct pw_errbuf *err)
{
    struct pw_attempt a = {.group = o->group, .topic = o->topic, .partition = o->partition,
                           .offset = o->offset, .tries = seed};
    enum pw_err rc = attempts_count(m, uow, &a, 1, err);
    *tries = a.tries;
    return rc;
}

void pw_attempts_release(struct pw_attempts *m)
{
    free(m->v);
    free(m->scratch);
    memset(m, 0, sizeof *m);
}
