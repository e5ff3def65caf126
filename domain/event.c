/*
 * Event names and construction. The event takes the post by move: the post a
 * use case has just saved is the event's data, so it is not copied again.
 */
#include "domain/event.h"

#include <string.h>

static const char *const pw_event_names[] = {
#define PW_EVENT_NAME(suffix, name) name,
    PW_EVENT_LIST(PW_EVENT_NAME)
#undef PW_EVENT_NAME
};

const char *pw_event_type_name(enum pw_event_type type)
{
    if ((unsigned)type >= PW_EVENT__COUNT)
        return NULL;
    return pw_event_names[type];
}

bool pw_event_type_from_name(const char *name, enum pw_event_type *out)
{
    for (unsigned i = 0; i < PW_EVENT__COUNT; i++)
        if (strcmp(pw_event_names[i], name) == 0) {
            *out = (enum pw_event_type)i;
            return true;
        }
    return false;
}

void pw_event_init(struct pw_event *ev, enum pw_event_type type, unsigned index,
                   const struct pw_envelope *env, struct pw_post *post)
{
    ev->type = type;
    ev->id[0] = '\0';
    ev->index = index;
    ev->time = env->time;
    memcpy(ev->source, env->source, strlen(env->source) + 1);
    memcpy(ev->causation_id, env->id, strlen(env->id) + 1);
    const char *corr = env->correlation_id[0] ? env->correlation_id : env->id;
    memcpy(ev->correlation_id, corr, strlen(corr) + 1);
    ev->traceparent[0] = '\0'; /* set with the id: its span id derives from it */
    memcpy(ev->tracestate, env->tracestate, strlen(env->tracestate) + 1);
    ev->post = *post;
    memset(post, 0, sizeof *post);
}

enum pw_err pw_event_copy(struct pw_event *dst, const struct pw_event *src)
{
    struct pw_post post;
    if (pw_post_copy(&post, &src->post)) {
        memset(dst, 0, sizeof *dst);
        return PW_E_NOMEM;
    }
    *dst = *src;
    dst->post = post;
    return PW_OK;
}

void pw_event_release(struct pw_event *ev)
{
    pw_post_release(&ev->post);
    memset(ev, 0, sizeof *ev);
}
