/*
 * The registry is a table indexed by command type: lookup is one load, and
 * a type with no handler is a NULL the dispatcher reports as unsupported.
 */
#include "handlers/registry.h"

#include <string.h>

void pw_registry_init(struct pw_registry *reg)
{
    memset(reg, 0, sizeof *reg);
}

void pw_registry_add(struct pw_registry *reg, enum pw_cmd_type type, pw_handler_fn fn)
{
    if ((unsigned)type < PW_CMD__COUNT)
        reg->handlers[type] = fn;
}

pw_handler_fn pw_registry_lookup(const struct pw_registry *reg, enum pw_cmd_type type)
{
    if ((unsigned)type >= PW_CMD__COUNT)
        return NULL;
    return reg->handlers[type];
}
