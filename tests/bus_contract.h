/*
 * The bus contract: cases written once as functions of a bus world, run
 * against every adapter of the bus port by BUS_CONTRACT_SUITE (bus_inmem::...
 * on the in-memory bus, bus_kafka::... on the Kafka bus and librdkafka's mock
 * cluster). What a bus delivered is read back as struct pw_out rows, so the
 * cases compare what went in with what came out, field for field.
 */
#ifndef PW_TESTS_BUS_CONTRACT_H
#define PW_TESTS_BUS_CONTRACT_H

#include <criterion/criterion.h>

#include "ports/bus.h"

struct bus_world {
    struct pw_bus bus;
    void *priv;
};

struct bus_adapter {
    void (*open)(struct bus_world *b); /* a bus on fresh topics */
    void (*close)(struct bus_world *b);
    /*
     * Up to max rows delivered (acknowledged) to topic, oldest first, as
     * copies the caller releases; waits a while for a broker to show them.
     */
    size_t (*delivered)(struct bus_world *b, const char *topic, struct pw_out *out, size_t max);
};

#define BUS_CASES(X)                                             \
    X(flushed_events_reach_their_topic_whole_and_in_order)      \
    X(a_dead_letter_carries_the_original_bytes_and_why)        \
    X(each_row_goes_to_the_topic_it_names)                     \
    X(a_flush_with_nothing_queued_succeeds)

#define BUS_CASE_DECL(name) void bus_case_##name(struct bus_world *b, const struct bus_adapter *a);
BUS_CASES(BUS_CASE_DECL)
#undef BUS_CASE_DECL

void bus_run(const struct bus_adapter *adapter,
             void (*fn)(struct bus_world *b, const struct bus_adapter *a));

#define BUS_CASE_TEST(name) \
    Test(BUS_SUITE_NAME, name, .timeout = 60) { bus_run(&BUS_ADAPTER, bus_case_##name); }

/* Define BUS_SUITE_NAME and BUS_ADAPTER, then expand this once. */
#define BUS_CONTRACT_SUITE() BUS_CASES(BUS_CASE_TEST)

#endif
