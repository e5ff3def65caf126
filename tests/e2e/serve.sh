#!/bin/sh
# postworker serve on a streaming replica: the read API without consuming,
# behind the worker that writes the primary. A reader of the replica sees
# what the primary committed, a little later; a wait there is answered by
# polling (a standby cannot LISTEN). Run under tools/with-postgres --replica.
set -u
. "$(dirname "$0")/lib.sh"
[ -n "${DATABASE_REPLICA_URL:-}" ] || { echo "serve.sh: run me under tools/with-postgres --replica"; exit 2; }
tmp=$(mktemp -d)
cd "$tmp" || exit 1
api_cap=$tmp/cap
mkdir -p "$api_cap"
"$PW" --http 127.0.0.1:0 >worker.log 2>&1 &
pid=$!
"$PW" serve --database "$DATABASE_REPLICA_URL" --http 127.0.0.1:0 >serve.log 2>&1 &
serve=$!
trap 'kill -9 $pid $serve 2>/dev/null; if [ "$fail" = 0 ]; then rm -rf "$tmp"; else echo "kept $tmp"; fi' EXIT

serving() { grep -q 'serving the read API at .*(port ' serve.log; }
check "serve says where it listens" until_ok 20 serving
api_base="http://127.0.0.1:$(sed -n 's/.*serving the read API at .*(port \([0-9]*\)).*/\1/p' serve.log)"
worker_up() { test -s .postworker/http; }
check "the worker writes its API's address" until_ok 30 worker_up
primary=$(cat .postworker/http)
ready() { api GET /readyz >/dev/null; test "$(api_status)" = 200; }
check "serve is ready once the replica answers" until_ok 20 ready
check "its readiness is the store's alone" sh -c "curl -s '$api_base/readyz' | grep -qx '{\"ready\":true,\"store\":\"up\"}'"
api GET /healthz >/dev/null
check "serve is live" test "$(api_status)" = 200

for i in 1 2 3; do "$PC" create --post-id "r-$i" --author Ada --title "T $i" --body b >/dev/null; done
"$PC" create --wait --post-id r-4 --author Ada --title "T 4" --body b >wait.out
check "the worker applies (its own API answers the wait)" grep -q "^applied: post 'r-4' version 1$" wait.out
on_replica() { api GET /posts/r-4 >/dev/null; test "$(api_status)" = 200; }
check "the post reaches the replica, and serve answers it" until_ok 10 on_replica
api GET /posts/r-4 -H 'If-None-Match: "1"' >/dev/null
check "with the same ETag as on the primary" test "$(api_status)" = 304

# A wait on the replica for a command not sent yet: answered once it is applied there.
curl -s "$api_base/commands?source=/postctl&id=late-1&wait=20" >late.out &
waiter=$!
sleep 1
"$PC" create --id late-1 --post-id r-5 --author Ada --title T --body b >/dev/null
started=$(date +%s)
wait $waiter
check "a wait on the replica ends with the command applied" grep -q '"outcome":"applied"' late.out
check "soon after it was (polling the standby, not the 20 s)" test $(($(date +%s) - started)) -le 5

# A page from the primary's worker goes on from the replica: a cursor is no secret of one server.
next=$(curl -s "$primary/posts?author=Ada&limit=2" | sed -n 's/.*"next":"\([^"]*\)".*/\1/p')
check "the primary's worker gives a cursor" test -n "$next"
page=$(api GET "/posts?author=Ada&limit=2&after=$next")
check "which the replica's serve takes" sh -c "echo '$page' | grep -q '\"post_id\":\"r-3\"'"

# The rest of the API, on the replica as on the primary.
"$PC" delete --wait --post-id r-2 >/dev/null
gone() { api GET /posts/r-2 >/dev/null; test "$(api_status)" = 410; }
check "a deleted post reaches the replica: 410, with its last state" until_ok 10 gone
api GET /posts/nope >/dev/null
check "a post never created: 404" test "$(api_status)" = 404
"$PC" delete --post-id nope --id ghost-1 >/dev/null
rejected() { api GET "/commands?source=/postctl&id=ghost-1" | grep -q '"outcome":"rejected","code":"not_found"'; }
check "a rejected command reads back as rejected, with its code" until_ok 10 rejected
page=$(api GET "/posts?author=Ada")
check "a page without a limit: every live post (4 of the 5)" \
    test "$(echo "$page" | grep -o '"post_id"' | wc -l)" = 4
api GET /parked >/dev/null
check "GET /parked answers from the replica" test "$(api_status)" = 200
api GET "/commands?source=/postctl&id=late-1" >/dev/null
check "so does GET /commands without a wait" test "$(api_status)" = 200
for p in /posts/r-1 "/posts?author=Ada" /parked "/commands?source=/postctl&id=late-1"; do
    api HEAD "$p" >/dev/null
    check "HEAD $p: 200 and no body" sh -c "test \"\$(cat '$api_cap/status')\" = 200 && test ! -s '$api_cap/b'"
done
api DELETE /posts/r-1 >/dev/null
check "another method: 405" test "$(api_status)" = 405
for bad in "/posts?limit=0" "/posts?limit=501" "/posts?color=red" "/posts?after=bm90LWEtY3Vyc29y" \
    "/commands?source=/postctl" "/commands?source=/postctl&id=x&wait=31" "/posts/bad!id"; do
    api GET "$bad" >bad.out
    check "GET $bad: 400 with an error code" sh -c "test \"\$(cat '$api_cap/status')\" = 400 && grep -q '\"error\":\"bad_parameter\"' bad.out"
done

# The replica stops: serve says so, and answers again once it is back.
(cd / && eval "$PW_PG_REPLICA_CTL stop -m fast") >/dev/null
down() { api GET /readyz >/dev/null; test "$(api_status)" = 503; }
check "with the replica down, serve is not ready" until_ok 10 down
api GET /posts/r-1 >/dev/null
check "and a read is a 503" test "$(api_status)" = 503
check "saying why" grep -q 'the database does not answer' serve.log
(cd / && eval "$PW_PG_REPLICA_CTL start") >/dev/null
check "back once the replica is" until_ok 20 ready
api GET /posts/r-1 >/dev/null
check "and reads again" test "$(api_status)" = 200

"$PW" serve --database "$DATABASE_REPLICA_URL" 2>usage.err
check "serve without --http exits 2" test $? = 2
check "in one line" test "$(wc -l <usage.err)" = 1
env -u DATABASE_URL "$PW" serve --http 127.0.0.1:0 2>usage.err
check "serve without a database exits 2" test $? = 2

validate_captures events dlq commands

kill -TERM $serve
wait $serve
check "SIGTERM stops serve with status 0" test $? = 0
kill -TERM $pid
wait $pid
check "and the worker" test $? = 0
[ $fail -eq 0 ] || { echo "--- serve.log"; tail -20 serve.log; }
echo "serve: $pass passed, $fail failed"
[ $fail -eq 0 ]
