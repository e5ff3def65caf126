/*
 * The read API's cases (tests/http_cases.c), each a function of a store
 * adapter, run against every adapter by HTTP_CONTRACT_SUITE.
 */
#ifndef PW_TESTS_HTTP_CONTRACT_H
#define PW_TESTS_HTTP_CONTRACT_H

#include "tests/store_contract.h"

#define HTTP_CASES(X)                                                  \
    X(a_post_answers_with_its_etag_304_404_410_and_400)                \
    X(pages_follow_next_to_the_end_and_refuse_what_is_not_theirs)      \
    X(a_command_answers_its_outcome_and_a_wait_wakes_on_the_commit)    \
    X(parked_posts_methods_and_head)                                   \
    X(a_page_of_big_posts_ends_early_and_its_cursor_goes_on)          \
    X(a_post_s_text_comes_back_exactly_every_byte_escaped_as_json)    \
    X(concurrent_readers_each_get_their_own_post)

#define HTTP_CASE_DECL(name) void http_case_##name(const struct store_adapter *adapter);
HTTP_CASES(HTTP_CASE_DECL)
#undef HTTP_CASE_DECL

#define HTTP_CASE_TEST(name) \
    Test(HTTP_SUITE_NAME, name, .timeout = 120) { http_case_##name(&HTTP_ADAPTER); }

/* Define HTTP_SUITE_NAME and HTTP_ADAPTER, then expand this once. */
#define HTTP_CONTRACT_SUITE() HTTP_CASES(HTTP_CASE_TEST)

#endif
