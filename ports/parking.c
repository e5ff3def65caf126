/* Parking's plain data: which message a post waits on, and held commands' copies. */
#include "ports/parking.h"

#include <stdlib.h>
#include <string.h>

bool pw_parked_is_failed(const struct pw_parked *p, const struct pw_cmd *cmd,
                         const struct pw_origin *origin)
{
    if (p->id[0])
        return cmd && strcmp(p->id, cmd->env.id) == 0 && strcmp(p->source, cmd->env.source) == 0;
    return p->value && origin->value && origin->value_len == p->value_len &&
           memcmp(origin->value, p->value, p->value_len) == 0;
}

void pw_held_release(struct pw_held *h)
{
    free(h->mem);
    memset(h, 0, sizeof *h);
}

enum pw_err pw_held_copy_origin(struct pw_held *h, const struct pw_origin *origin)
{
    return pw_origin_copy(&h->origin, origin, &h->mem);
}
