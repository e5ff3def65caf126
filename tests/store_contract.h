/*
 * The store contract: repository, unit of work (inbox, outbox, offsets) and
 * outbox reader cases, each written once as a function of a store, and run
 * against every adapter by STORE_CONTRACT_SUITE (one Criterion suite per
 * adapter: store_inmem::..., store_pg::...).
 */
#ifndef PW_TESTS_STORE_CONTRACT_H
#define PW_TESTS_STORE_CONTRACT_H

#include <criterion/criterion.h>

#include "ports/outbox.h"
#include "ports/query.h"
#include "ports/store.h"
#include "ports/uow.h"

/*
 * Two units of work on one store (two "connections"), two handles of the
 * store port, and two outbox readers.
 */
struct store {
    struct pw_uow uow;
    struct pw_uow uow2;
    struct pw_store st;
    struct pw_store st2; /* another handle, as another worker's */
    struct pw_outbox outbox;
    struct pw_outbox outbox2;
    struct pw_query q; /* the read side, shared by threads */
    void *priv;
};

struct store_adapter {
    void (*open)(struct store *s);  /* a fresh, empty store */
    void (*close)(struct store *s);
};

#define STORE_CASES(X)                                          \
    X(get_of_missing_post_is_not_found)                         \
    X(added_post_reads_back_field_for_field)                    \
    X(text_and_times_at_their_edges_read_back_as_written)       \
    X(add_of_existing_post_is_already_exists)                   \
    X(save_replaces_post_at_the_next_version)                   \
    X(save_of_missing_post_is_not_found)                        \
    X(save_over_a_stale_version_is_version_conflict)            \
    X(rollback_leaves_no_trace)                                 \
    X(commit_is_visible_to_another_unit_of_work)                \
    X(uncommitted_change_is_invisible_to_another_unit_of_work)  \
    X(inbox_records_the_outcome)                                \
    X(old_inbox_marks_are_pruned_oldest_first_a_batch_at_a_time) \
    X(outbox_gives_committed_events_in_commit_order)            \
    X(outbox_keeps_events_until_removed)                        \
    X(only_one_outbox_reader_publishes_at_a_time)               \
    X(offsets_read_back_and_are_minus_one_when_absent)          \
    X(concurrent_change_to_one_post_applies_once)               \
    X(concurrent_inbox_mark_of_one_command_applies_once)        \
    X(dead_letters_keep_their_bytes_and_follow_their_events)    \
    X(an_event_comes_back_from_the_outbox_field_for_field)      \
    X(stored_offsets_are_per_group_and_never_move_backwards)    \
    X(a_transaction_stores_the_offsets_of_a_thousand_partitions) \
    X(prefetched_reads_see_what_is_stored_and_what_is_not)       \
    X(a_round_of_large_dead_letters_stops_at_the_byte_cap)      \
    X(a_run_that_died_is_seen_and_only_a_death_alone_is_counted) \
    X(a_run_ended_alive_is_no_death_to_the_next)                \
    X(a_run_below_the_stored_offset_changes_no_count)           \
    X(a_post_parks_holds_in_order_and_drains_when_released)     \
    X(the_held_command_last_started_comes_next_until_it_is_done) \
    X(a_hold_behind_a_post_no_longer_parked_fails_the_commit)   \
    X(one_store_handle_drains_at_a_time)                        \
    X(a_store_holds_nothing_until_a_command_or_an_offset_is_stored) \
    X(a_post_reads_back_deleted_or_not_once_committed)          \
    X(a_post_reads_back_its_times_to_the_microsecond_over_the_whole_range) \
    X(pages_walk_every_matching_post_once_in_keyset_order)      \
    X(a_command_reads_back_as_what_became_of_it)                \
    X(a_wait_for_changes_wakes_on_a_commit)                      \
    X(posts_read_together_are_each_their_own)                    \
    X(pages_walk_thousands_of_posts_added_out_of_order)

#define STORE_CASE_DECL(name) void store_case_##name(struct store *s);
STORE_CASES(STORE_CASE_DECL)
#undef STORE_CASE_DECL

void store_run(const struct store_adapter *adapter, void (*fn)(struct store *s));

/* Shared by the case files: begin and commit that must succeed, and sample data. */
void store_begin(struct pw_uow *uow);
void store_commit(struct pw_uow *uow);
struct pw_post store_post_make(const char *post_id, int64_t version);
struct pw_event store_event_make(const char *post_id, const char *cmd_id);

#define STORE_CASE_TEST(name) \
    Test(STORE_SUITE_NAME, name) { store_run(&STORE_ADAPTER, store_case_##name); }

/* Define STORE_SUITE_NAME and STORE_ADAPTER, then expand this once. */
#define STORE_CONTRACT_SUITE() STORE_CASES(STORE_CASE_TEST)

#endif
