#!/usr/bin/env bash
# run.sh — runs every test suite given as a command, shows its output, and ends with the sum of
# their "N passed, N failed" lines. Exits non-zero if any suite failed or printed no count.
set -u
# OpenMP threads wait passively: on a shared or oversubscribed machine spinning threads made the
# threaded tests take minutes instead of seconds (results do not depend on it)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
total_p=0
total_f=0
status=0
for suite in "$@"; do
    echo "== $suite"
    out=$(bash -c "$suite" 2>&1)
    rc=$?
    echo "$out"
    line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)
    if [[ -z $line ]]; then
        echo "!! $suite printed no result line (exit $rc)"
        total_f=$((total_f + 1)); status=1; continue
    fi
    p=${line%% passed*}
    f=${line#*passed, }; f=${f%% failed*}
    total_p=$((total_p + p)); total_f=$((total_f + f))
    [[ $rc -ne 0 || $f -ne 0 ]] && status=1
done
echo "== all suites"
echo "$total_p passed, $total_f failed"
exit $status
