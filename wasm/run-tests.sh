#!/usr/bin/env bash
# run-tests.sh — the wasm test suite (Node's built-in runner) with the "N passed, N failed" line
# that tests/run.sh sums. Needs `make wasm` and build/cope.
cd "$(dirname "$0")/.." || exit 1
out=$(node --test --test-reporter=tap wasm/test/*.test.mjs 2>&1)
rc=$?
echo "$out"
pass=$(echo "$out" | sed -n 's/^# pass \([0-9]*\)$/\1/p' | tail -1)
fail=$(echo "$out" | sed -n 's/^# fail \([0-9]*\)$/\1/p' | tail -1)
[[ -z $pass || -z $fail ]] && { echo "no TAP summary from node --test (exit $rc)"; exit 1; }
[[ $rc -ne 0 && $fail -eq 0 ]] && fail=1 # a crash outside any test still counts
echo "$pass passed, $fail failed"
[[ $rc -eq 0 && $fail -eq 0 ]]
