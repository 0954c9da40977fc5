#!/usr/bin/env bash
# run.sh SECONDS NAME... — runs each libFuzzer harness build/fuzz/fuzz_NAME for SECONDS on a copy
# of its seed corpus; prints the executions and coverage; fails on the first crash (the input is
# kept as build/fuzz/crash-NAME-*). With FUZZ_RECORD=FILE, appends a line per harness to FILE
# (tab-separated: harness, seconds, executions, executions/s, corpus, result, date): the README's
# campaign table (`make fuzz-campaign`, tests/reliability.sh) is made from it.
set -u
secs=$1; shift
status=0
for n in "$@"; do
    rm -rf "build/fuzz/corpus-$n" && mkdir -p "build/fuzz/corpus-$n" && cp tests/fuzz/corpus/"$n"/* "build/fuzz/corpus-$n/"
    # dictionaries: cope_config JSON (json.dict) for the config reader and the loader, whose
    # safetensors header keys and tensor names are in load.dict (libFuzzer takes one file)
    dict=()
    case $n in
        json) dict=(-dict=tests/fuzz/json.dict) ;;
        load) cat tests/fuzz/load.dict tests/fuzz/json.dict >build/fuzz/dict-load && dict=(-dict=build/fuzz/dict-load) ;;
    esac
    echo "== fuzz_$n for ${secs}s"
    ./build/fuzz/fuzz_"$n" "${dict[@]}" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="build/fuzz/crash-$n-" -print_final_stats=1 "build/fuzz/corpus-$n" >"build/fuzz/log-$n.txt" 2>&1
    rc=$?
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb|^#[0-9]+.*(DONE|cov:)" "build/fuzz/log-$n.txt" | tail -3
    if [[ $rc -ne 0 ]]; then
        echo "!! fuzz_$n failed (exit $rc):"; grep -E "ERROR|SUMMARY|Test unit written" "build/fuzz/log-$n.txt" | head -5
        status=1
    fi
    if [[ -n ${FUZZ_RECORD:-} ]]; then
        stat() { sed -n "s/^stat::$1: *//p" "build/fuzz/log-$n.txt" | tail -1; }
        corp=$(grep -oE "corp: [0-9]+/[0-9]+[a-zA-Z]*" "build/fuzz/log-$n.txt" | tail -1 | cut -d' ' -f2)
        result=$([[ $rc -eq 0 ]] && echo clean || echo "crash (exit $rc)")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$secs" "$(stat number_of_executed_units)" \
            "$(stat average_exec_per_sec)" "$corp" "$result" "$(date -u +%Y-%m-%d)" >>"$FUZZ_RECORD"
    fi
done
exit $status
