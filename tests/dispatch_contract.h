/*
 * The dispatch contract: cases written once as functions of a world (the
 * application on a store's ports, an in-memory bus), run against every store
 * adapter by DISPATCH_CONTRACT_SUITE (dispatch_inmem::..., dispatch_pg::...).
 */
#ifndef PW_TESTS_DISPATCH_CONTRACT_H
#define PW_TESTS_DISPATCH_CONTRACT_H

#include "tests/helpers.h"

#define DISPATCH_CASES(X) \
    X(create_applies_and_its_event_carries_the_whole_post) \
    X(update_and_delete_apply_in_order_with_versions) \
    X(every_business_rule_rejects_with_its_code) \
    X(the_same_command_again_is_a_duplicate_and_publishes_nothing) \
    X(a_rejected_command_is_marked_and_rejected_only_once) \
    X(a_command_type_without_handler_is_unknown_type_and_not_marked) \
    X(a_batch_applies_a_repeated_command_once) \
    X(event_ids_derive_from_source_id_and_position_alone) \
    X(a_failure_at_any_port_call_rolls_back_the_whole_batch) \
    X(the_relay_keeps_events_the_bus_failed_and_publishes_them_in_order_later) \
    X(a_dead_letter_commits_with_its_mark_and_a_rolled_back_batch_leaves_neither) \
    X(a_pending_relay_round_is_confirmed_before_the_next_is_read) \
    X(a_batch_spanning_a_thousand_partitions_stores_every_offset) \
    X(a_prefetched_batch_sees_what_earlier_batches_and_its_own_commands_did) \
    X(a_dead_letter_whose_reason_holds_bad_bytes_still_commits) \
    X(after_a_failed_confirm_the_next_round_waits_for_everything) \
    X(a_drain_ends_while_others_keep_committing) \
    X(kills_around_healthy_commands_never_dead_letter_one) \
    X(a_killer_is_given_up_after_max_attempts_deaths_alone_and_parks_its_post) \
    X(a_command_the_store_refuses_is_found_by_halves) \
    X(a_command_the_store_keeps_cutting_off_ends_as_failed) \
    X(a_clean_stop_during_a_run_alone_is_no_death) \
    X(a_give_up_does_not_move_a_park_to_itself) \
    X(a_batch_below_the_stored_offset_runs_only_what_is_past_it) \
    X(a_rerun_here_goes_on_where_it_stopped) \
    X(a_failed_command_parks_its_post_and_sent_again_runs_the_held_ones) \
    X(a_release_gives_up_the_failed_command_and_runs_the_held_ones) \
    X(a_held_command_that_fails_parks_its_post_again_behind_it) \
    X(a_killer_parks_the_post_of_its_key_and_is_known_again_by_its_bytes) \
    X(a_held_command_the_store_keeps_cutting_off_does_not_block_the_drain) \
    X(a_held_killer_keeps_the_deaths_it_had_before_it_was_held) \
    X(a_held_command_whose_drain_died_runs_again_first) \
    X(a_malformed_message_the_store_passed_is_not_dead_lettered_again) \
    X(a_copy_of_a_held_command_stays_a_duplicate_if_the_held_one_fails)

#define DISPATCH_CASE_DECL(name) void dispatch_case_##name(struct world *w);
DISPATCH_CASES(DISPATCH_CASE_DECL)
#undef DISPATCH_CASE_DECL

/* Opens a world on adapter, runs fn in it, closes it. */
void dispatch_run(const struct store_adapter *adapter, void (*fn)(struct world *w));

#define DISPATCH_CASE_TEST(name) \
    Test(DISPATCH_SUITE_NAME, name, .timeout = 120) { dispatch_run(&DISPATCH_ADAPTER, dispatch_case_##name); }

/* Define DISPATCH_SUITE_NAME and DISPATCH_ADAPTER, then expand this once. */
#define DISPATCH_CONTRACT_SUITE() DISPATCH_CASES(DISPATCH_CASE_TEST)

#endif
