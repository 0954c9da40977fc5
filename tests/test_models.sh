#!/usr/bin/env bash
# test_models.sh — every shipped model (models/*.safetensors) loads, and on a fresh seeded test set
# (a seed the trainer's own evaluation did not use) reaches the in-distribution error its card
# states, within 3 binomial standard deviations plus one point. Inference only. Reads the card from
# `cope info --json` with node.
# Usage: tests/test_models.sh [path/to/cope]
set -u
COPE=${1:-build/cope}
N=${N:-400}
passed=0
failed=0
shopt -s nullglob
models=(models/*.safetensors)
if ((${#models[@]} == 0)); then
    echo "no shipped models in models/ (make models trains them)"
fi
for m in "${models[@]}"; do
    info=$("$COPE" info "$m" --json 2>&1)
    if [[ $? -ne 0 ]]; then failed=$((failed + 1)); echo "FAIL $m does not load: $(echo "$info" | tail -1)"; continue; fi
    passed=$((passed + 1))
    # the task and the card's in-distribution error, from the provenance
    read -r task card < <(echo "$info" | node -e 'const p = JSON.parse(require("fs").readFileSync(0)).provenance;
        console.log(p.task ?? "", p.eval?.train?.token_error ?? "")' 2>/dev/null)
    if [[ -z $task || -z $card ]]; then failed=$((failed + 1)); echo "FAIL $m: provenance lacks task or eval.train"; continue; fi
    line=$("$COPE" eval "$m" --split train --n "$N" --seed 4242 --threads 2 2>&1)
    got=$(echo "$line" | grep -o 'token error *[0-9.]*' | grep -o '[0-9.]*$')
    if [[ -z $got ]]; then failed=$((failed + 1)); echo "FAIL $m: eval failed: $line"; continue; fi
    # tokens scored per example: 1 for counting, ~6 reads for flip-flop, 16 for selcopy, 192 for text
    per=1
    case $task in flipflop) per=6 ;; selcopy) per=16 ;; text) per=192 ;; esac
    ok=$(awk -v g="$got" -v c="$card" -v n="$N" -v per="$per" 'BEGIN {
        p = c / 100; if (p < 0.001) p = 0.001;
        m = 300 * sqrt(p * (1 - p) / (n * per)) + 1.0;
        d = g - c; if (d < 0) d = -d;
        print (d <= m) ? "yes" : "no"; printf " margin %.2f", m > "/dev/stderr" }' 2>/tmp/margin.$$)
    if [[ $ok == yes ]]; then passed=$((passed + 1)); echo "ok   $m ($task): error $got% on $N fresh examples, card $card%$(cat /tmp/margin.$$)"
    else failed=$((failed + 1)); echo "FAIL $m ($task): error $got% on $N fresh examples, card says $card%$(cat /tmp/margin.$$)"; fi
    rm -f /tmp/margin.$$
done
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
