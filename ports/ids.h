/*
 * Port: event identity. An event id must be a pure function of the
 * command's source and id and the event's position among that command's
 * events, so that a replay gives the same ids, and two different inputs must
 * never give the same id. How (a name-based UUID) is the adapter's business.
 */
#ifndef PW_PORTS_IDS_H
#define PW_PORTS_IDS_H

#include "domain/event.h"

struct pw_ids_ops {
    const char *name;
    /* Writes the id of event number index of command (source, id) into out. */
    void (*event_id)(void *self, const char *source, const char *id, unsigned index,
                     char out[PW_EVENT_ID_LEN + 1]);
    void (*close)(void *self);
};

struct pw_ids {
    const struct pw_ids_ops *ops;
    void *self;
};

static inline void pw_ids_event_id(struct pw_ids *ids, const char *source, const char *id,
                                   unsigned index, char out[PW_EVENT_ID_LEN + 1])
{
    ids->ops->event_id(ids->self, source, id, index, out);
}

static inline void pw_ids_close(struct pw_ids *ids)
{
    if (ids->ops && ids->ops->close)
        ids->ops->close(ids->self);
}

#endif
