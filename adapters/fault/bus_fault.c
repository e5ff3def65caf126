/* The fault-injecting message bus. */
#include "adapters/fault/fault.h"

#include <stdlib.h>

struct fault_bus {
    struct pw_bus *inner;
    struct pw_fault *plan;
};

static enum pw_err fault_bus_publish(void *self, const struct pw_out *out, struct pw_errbuf *err)
{
    struct fault_bus *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_bus_publish(f->inner, out, err);
}

static enum pw_err fault_bus_flush(void *self, int timeout_ms, struct pw_errbuf *err)
{
    struct fault_bus *f = self;
    enum pw_err rc;
    if (pw_fault_hit(f->plan, err, &rc))
        return rc;
    return pw_bus_flush(f->inner, timeout_ms, err);
}

static void fault_bus_close(void *self)
{
    free(self);
}

static const struct pw_bus_ops fault_bus_ops = {
    .name = "fault",
    .publish = fault_bus_publish,
    .flush = fault_bus_flush,
    .close = fault_bus_close,
};

enum pw_err pw_fault_bus_open(struct pw_bus *bus, struct pw_bus *inner, struct pw_fault *plan)
{
    struct fault_bus *f = calloc(1, sizeof *f);
    if (!f)
        return PW_E_NOMEM;
    f->inner = inner;
    f->plan = plan;
    bus->ops = &fault_bus_ops;
    bus->self = f;
    return PW_OK;
}
