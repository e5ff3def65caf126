/* The bus contract on the in-memory bus, the reference. */
#include "tests/bus_contract.h"

#include <string.h>

#include "adapters/inmem/inmem.h"

static void inmem_bus_world_open(struct bus_world *b)
{
    cr_assert_eq(pw_inmem_bus_open(&b->bus), PW_OK);
}

static void inmem_bus_world_close(struct bus_world *b)
{
    pw_bus_close(&b->bus);
}

static size_t inmem_delivered(struct bus_world *b, const char *topic, struct pw_out *out,
                              size_t max)
{
    size_t n, got = 0;
    const struct pw_out *rows = pw_inmem_bus_delivered(&b->bus, &n);
    for (size_t i = 0; i < n && got < max; i++)
        if (strcmp(rows[i].topic, topic) == 0)
            cr_assert_eq(pw_out_copy(&out[got++], &rows[i]), PW_OK);
    return got;
}

static const struct bus_adapter inmem_bus_adapter = {
    .open = inmem_bus_world_open,
    .close = inmem_bus_world_close,
    .delivered = inmem_delivered,
};

#define BUS_SUITE_NAME bus_inmem
#define BUS_ADAPTER inmem_bus_adapter
BUS_CONTRACT_SUITE()
