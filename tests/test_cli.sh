#!/usr/bin/env bash
# test_cli.sh — the `cope` command line: exit codes, one-line errors for bad arguments and files,
# and each command end to end on the golden test models. Usage: tests/test_cli.sh [path/to/cope]
set -u
COPE=${1:-build/cope}
G=tests/golden
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

# expect CODE PATTERN -- command...: exit code CODE, and (for errors) exactly one error line on
# stderr, the last one, matching PATTERN.
expect() {
    local code=$1 pat=$2
    shift 3
    "$@" >"$TMP/out" 2>"$TMP/err"
    local rc=$?
    if [[ $rc -ne $code ]]; then bad "exit $rc (want $code): $*"; sed 's/^/     /' "$TMP/err" | head -3; return; fi
    if [[ $code -ne 0 && -n ${REL_OUT:-} ]]; then # for the README's reliability table
        local all="$*"
        local cmd=${all#"$COPE"}
        cmd=${cmd//$TMP\//}
        printf '%s\t%s\t%s\n' "cope$cmd" "$rc" "$(tail -1 "$TMP/err" | sed "s|$TMP/||g")" >>"$REL_OUT"
    fi
    if [[ $code -ne 0 ]]; then
        local lines
        lines=$(grep -c "error" "$TMP/err")
        if [[ $lines -ne 1 ]] || ! tail -1 "$TMP/err" | grep -qE -e "$pat"; then
            bad "want one error line matching /$pat/: $*"; sed 's/^/     /' "$TMP/err" | head -3; return
        fi
    elif [[ -n $pat ]] && ! grep -qE -e "$pat" "$TMP/out"; then
        bad "stdout does not match /$pat/: $*"; head -3 "$TMP/out" | sed 's/^/     /'; return
    fi
    ok
}

expect 0 "usage" -- "$COPE" --help
expect 2 "." -- "$COPE"
expect 2 "unknown command" -- "$COPE" frobnicate
expect 0 "pe +cope" -- "$COPE" info $G/cope.model.safetensors
expect 0 "parameters" -- "$COPE" info $G/cope_rope_sep.model.safetensors
expect 1 "cannot read .*nope" -- "$COPE" info "$TMP/nope.safetensors"
expect 1 "Makefile: .*header" -- "$COPE" info Makefile
head -c 300 $G/cope.model.safetensors >"$TMP/cut.safetensors"
expect 1 "truncated" -- "$COPE" info "$TMP/cut.safetensors"
head -c 1000000 /dev/urandom >"$TMP/random.safetensors" 2>/dev/null || dd if=/dev/urandom of="$TMP/random.safetensors" bs=1000 count=1000 2>/dev/null
expect 1 "random.safetensors: " -- "$COPE" info "$TMP/random.safetensors"
expect 2 "unknown or misplaced argument \"--bogus\"" -- "$COPE" info $G/cope.model.safetensors --bogus
expect 2 "missing MODEL" -- "$COPE" info
# info --json: the file's cope_config plus n_params and the tensor table, which must agree with the
# text output and with the file's own safetensors header (shapes; data_offsets = 4 x offset)
if command -v node >/dev/null; then
    for f in $G/cope.model.safetensors $G/cope_rope_sep.model.safetensors $G/cope_rel.model.safetensors; do
        "$COPE" info "$f" --json >"$TMP/info.json" 2>&1 && "$COPE" info "$f" >"$TMP/info.txt" 2>&1
        if msg=$(node -e 'try {
            const fs = require("fs"), [js, txt, file] = process.argv.slice(1);
            const j = JSON.parse(fs.readFileSync(js)), text = fs.readFileSync(txt, "utf8");
            const col = (k) => (text.match(new RegExp("^" + k + " +(\\S+)", "m")) || [])[1];
            const buf = fs.readFileSync(file), hl = Number(buf.readBigUInt64LE(0));
            const h = JSON.parse(buf.subarray(8, 8 + hl).toString());
            const file_cfg = JSON.parse(h.__metadata__.cope_config);
            const want = { pe: col("pe"), n_layer: +col("layers"), d_model: +col("d_model"), d_ff: +col("d_ff"),
                           n_ctx: +col("n_ctx"), vocab_size: +col("vocab_size"), n_params: +col("parameters") };
            for (const [k, v] of Object.entries(want)) if (j[k] !== v) throw `${k}: ${j[k]} vs text ${v}`;
            for (const k of Object.keys(file_cfg))
                if (JSON.stringify(j[k]) !== JSON.stringify(file_cfg[k])) throw `${k} differs from the file`;
            const names = Object.keys(h).filter((k) => k !== "__metadata__");
            if (j.tensors.length !== names.length) throw `${j.tensors.length} tensors, the file has ${names.length}`;
            let next = 0;
            for (const t of j.tensors) {
                const ft = h[t.name];
                if (!ft) throw `${t.name} is not in the file`;
                if (JSON.stringify(ft.shape) !== JSON.stringify(t.shape) || t.shape.reduce((a, b) => a * b, 1) !== t.numel)
                    throw `${t.name}: shape ${t.shape} vs ${ft.shape}`;
                if (t.offset !== next || ft.data_offsets[0] !== 4 * t.offset || ft.data_offsets[1] !== 4 * (t.offset + t.numel))
                    throw `${t.name}: offset ${t.offset} vs ${ft.data_offsets}`;
                next += t.numel;
            }
            if (next !== j.n_params) throw `tensors hold ${next} floats, n_params ${j.n_params}`;
        } catch (e) { console.log(String(e)); process.exit(1); }' "$TMP/info.json" "$TMP/info.txt" "$f" 2>&1); then ok; else bad "info --json $f: $msg"; fi
    done
fi

# trace
expect 0 '"layers"' -- "$COPE" trace $G/cope.model.safetensors --ids 1,2,3,4 --json
if command -v node >/dev/null; then
    "$COPE" trace $G/cope_sep_head.model.safetensors --text "the cat sat on the mat" --json >"$TMP/t.json" 2>/dev/null
    if node -e 'const t=JSON.parse(require("fs").readFileSync(process.argv[1]));
        if (t.T!==6||t.layers.length!==2||t.layers[0].attn.length!==2||t.layers[1].pos_attn[1][5].length!==6) process.exit(1);
        for (const L of t.layers) for (const row of L.attn[0]) { const s=row.reduce((a,b)=>a+b,0); if (Math.abs(s-1)>1e-5) process.exit(1); }' "$TMP/t.json"; then ok
    else bad "trace --json is not the documented structure"; fi
fi
expect 0 "" -- "$COPE" trace $G/cope.model.safetensors --ids 1,2,3,4 --out "$TMP/trace.safetensors"
if [[ -s $TMP/trace.safetensors ]] && grep -q '"layers.1.pos_attn"' "$TMP/trace.safetensors" && grep -q '"logits"' "$TMP/trace.safetensors"; then ok; else bad "trace --out file lacks tensors"; fi
expect 0 "" -- "$COPE" trace $G/cope.model.safetensors --text "a big dog ran" --out "$TMP/trace2.safetensors"
expect 1 "outside 0..10" -- "$COPE" trace $G/cope.model.safetensors --ids 1,2,99 --json
# gate interventions: bad lists and ranges are named; the gates on one ++; at 0 in layer 0 (which
# holds the counting head) make the shipped counting model's answer one smaller
expect 2 'force-gate: gate override "0:1": expected LAYER:HEAD:KEY=VALUE' -- "$COPE" trace $G/cope.model.safetensors --ids 1,2,3 --json --force-gate 0:1
expect 2 "force-gate: gate override 0: head 5 is outside 0..1" -- "$COPE" trace $G/cope.model.safetensors --ids 1,2,3 --json --force-gate 0:5:1=0
expect 1 "gate override 0: key 3 is past the input's 3 tokens" -- "$COPE" trace $G/cope.model.safetensors --ids 1,2,3 --json --force-gate "0:*:3=1"
expect 2 "gate override 0: key 16 is outside 0..15" -- "$COPE" trace $G/cope.model.safetensors --ids 1,2,3 --json --force-gate "0:*:16=1"
expect 2 "need a CoPE model; this one is rel" -- "$COPE" trace $G/rel.model.safetensors --ids 1,2,3 --json --force-gate 0:0:1=0
if [[ -f models/counting1-cope-s1.safetensors ]]; then
    answer() { # the model's answer to the program, with optional --force-gate arguments
        "$COPE" trace models/counting1-cope-s1.safetensors --text "a = 0 ; pass; a ++; pass; a ++; a ++; print a" --json "$@" |
            /usr/bin/python3 -c 'import json, sys; d = json.load(sys.stdin); l = d["logits"][-1]; print(max(range(len(l)), key=l.__getitem__))'
    }
    plain=$(answer) forced=$(answer --force-gate "0:*:6=0")
    if [[ -n $plain && $forced == $((plain - 1)) ]]; then ok; else bad "forcing the first ++; to 0 in layer 0: answer id $plain -> $forced (want one less)"; fi
fi
expect 1 "more than the model's context" -- "$COPE" trace $G/cope.model.safetensors --ids 1,2,3,4,5,6,7,8,9,1,2,3,4,5,6,7,8 --json
expect 2 "not a comma-separated list" -- "$COPE" trace $G/cope.model.safetensors --ids 1,,2 --json
expect 2 "exactly one of --text" -- "$COPE" trace $G/cope.model.safetensors --json
expect 2 "exactly one of --json" -- "$COPE" trace $G/cope.model.safetensors --ids 1
expect 2 "no tokens" -- "$COPE" trace $G/cope.model.safetensors --text "   " --json
expect 2 "needs a value" -- "$COPE" trace $G/cope.model.safetensors --ids

# grad
expect 0 "^loss " -- "$COPE" grad $G/cope_rel.model.safetensors --ids 1,2,3 --targets 2,3,4 --mask 0,1,1 --out "$TMP/g.safetensors"
if grep -q '"blocks.1.attn.cope.weight"' "$TMP/g.safetensors" && grep -q '"loss"' "$TMP/g.safetensors"; then ok; else bad "grad file lacks tensors"; fi
expect 2 "--targets has 2 entries" -- "$COPE" grad $G/cope.model.safetensors --ids 1,2,3 --targets 2,3 --out "$TMP/g2.safetensors"
expect 2 "0 or 1" -- "$COPE" grad $G/cope.model.safetensors --ids 1,2,3 --targets 2,3,4 --mask 0,2,1 --out "$TMP/g2.safetensors"
expect 1 "selects no token" -- "$COPE" grad $G/cope.model.safetensors --ids 1,2,3 --targets 2,3,4 --mask 0,0,0 --out "$TMP/g2.safetensors"
expect 1 "cannot write" -- "$COPE" grad $G/cope.model.safetensors --ids 1,2,3 --targets 2,3,4 --out "$TMP/no/such/dir/g.safetensors"

# train, info, eval, sample on the toy task
expect 0 "" -- "$COPE" train --task toy --steps 30 --batch 8 --dim 16 --heads 2 --layers 1 --eval-n 64 --out "$TMP/toy.safetensors"
expect 0 '"task": "toy"' -- "$COPE" info "$TMP/toy.safetensors"
if command -v node >/dev/null; then
    if "$COPE" info "$TMP/toy.safetensors" --json | node -e 'const j = JSON.parse(require("fs").readFileSync(0));
        if (j.provenance.task !== "toy" || !(j.provenance.eval.ood.token_error >= 0) || j.tokenizer.vocab.length !== j.vocab_size) process.exit(1);'
    then ok; else bad "info --json: the trained model's provenance or tokenizer"; fi
fi
expect 0 "toy train .*token error" -- "$COPE" eval "$TMP/toy.safetensors" --n 64
expect 0 "ood" -- "$COPE" eval "$TMP/toy.safetensors" --n 64 --split ood
expect 2 "has no split" -- "$COPE" eval "$TMP/toy.safetensors" --split nope
# per-example predictions: one JSON line per example, as many wrong as the error says
expect 0 "sequence error" -- "$COPE" eval "$TMP/toy.safetensors" --n 40 --split train --examples "$TMP/ex.jsonl"
lines=$(wc -l <"$TMP/ex.jsonl")
wrong=$(node -e 'let w = 0; for (const l of require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n")) { const e = JSON.parse(l);
    if (e.scored.some(([p, t, y]) => e.tokens[p] !== t)) throw new Error("target is not the token at its position"); w += e.wrong; } console.log(w)' "$TMP/ex.jsonl" 2>&1)
pct=$(awk '/sequence error/ {for (i = 1; i <= NF; i++) if ($i == "sequence") print $(i + 2)}' "$TMP/out" | tr -d %)
if [[ $lines -eq 40 && -n $pct ]] && awk -v w="$wrong" -v p="$pct" 'BEGIN { exit !(w == p * 40 / 100) }'; then ok
else bad "eval --examples: $lines lines, $wrong wrong, sequence error $pct%"; fi
expect 1 "cannot write" -- "$COPE" eval "$TMP/toy.safetensors" --n 4 --examples "$TMP/no/such/dir.jsonl"

expect 2 "unknown task" -- "$COPE" train --task nope --out "$TMP/x.safetensors"
expect 2 "--pe must be one of" -- "$COPE" train --pe alibi --out "$TMP/x.safetensors"
expect 2 "--steps must be an integer" -- "$COPE" train --steps -5 --out "$TMP/x.safetensors"
expect 2 "--lr must be a number" -- "$COPE" train --lr abc --out "$TMP/x.safetensors"
expect 1 "not a multiple of n_head" -- "$COPE" train --dim 10 --heads 3 --steps 1 --out "$TMP/x.safetensors"
expect 2 "needs --out" -- "$COPE" train --steps 1
expect 0 "\?.=> " -- "$COPE" sample --task toy --seed 3 --n 2
# a learning rate that blows up: training stops with a message and keeps the last checkpoint
expect 1 "not finite; stopping; .* holds the checkpoint of step 1" -- "$COPE" train --task toy --steps 50 --batch 4 --dim 16 --heads 2 --layers 1 --lr 1e10 --clip 0 --warmup 0 --checkpoint-every 1 --eval-n 0 --out "$TMP/nan.safetensors"
expect 0 '"checkpoint_step"' -- "$COPE" info "$TMP/nan.safetensors"
# a fixed training set: recorded in the provenance; the same seed trains the same weights
expect 0 "" -- "$COPE" train --task counting1 --steps 6 --batch 4 --dim 16 --heads 2 --layers 1 --train-set 10 --eval-n 0 --out "$TMP/set1.safetensors"
expect 0 '"train_set": 10' -- "$COPE" info "$TMP/set1.safetensors"
expect 0 "" -- "$COPE" train --task counting1 --steps 6 --batch 4 --dim 16 --heads 2 --layers 1 --train-set 10 --eval-n 0 --out "$TMP/set2.safetensors"
a=$("$COPE" trace "$TMP/set1.safetensors" --ids 2,7,12,8,11,2 --json); b=$("$COPE" trace "$TMP/set2.safetensors" --ids 2,7,12,8,11,2 --json)
if [[ -n "$a" && "$a" == "$b" ]]; then ok; else bad "--train-set: the same seed gave another model"; fi
expect 2 "--train-set must be an integer" -- "$COPE" train --train-set -1 --out "$TMP/x.safetensors"
# --bucket K: batches of similar lengths from pools of K batches: with steps a multiple of K, the
# same examples (the same unpadded tokens) for fewer padded tokens; K = 1 is the plain trainer
tiny=(train --task counting1 --steps 8 --batch 4 --dim 16 --heads 2 --layers 1 --eval-n 0)
expect 0 "" -- "$COPE" "${tiny[@]}" --bucket 1 --out "$TMP/b1.safetensors"
expect 0 "" -- "$COPE" "${tiny[@]}" --bucket 4 --out "$TMP/b4.safetensors"
tokens() { "$COPE" info "$1" --json | grep -o "\"$2\": [0-9]*" | grep -o '[0-9]*$'; }
t1=$(tokens "$TMP/b1.safetensors" tokens); t4=$(tokens "$TMP/b4.safetensors" tokens)
r1=$(tokens "$TMP/b1.safetensors" real_tokens); r4=$(tokens "$TMP/b4.safetensors" real_tokens)
if [[ -n "$t1" && -n "$t4" && $t4 -lt $t1 ]]; then ok; else bad "--bucket 4 processed $t4 padded tokens, the plain trainer $t1"; fi
if [[ -n "$r1" && "$r1" == "$r4" ]]; then ok; else bad "--bucket 4 trained on $r4 unpadded tokens, the plain trainer on $r1 (not the same examples)"; fi
expect 0 '"bucket": 4' -- "$COPE" info "$TMP/b4.safetensors"
expect 2 "--bucket must be" -- "$COPE" train --bucket 0 --out "$TMP/x.safetensors"
# heads: the head worth looking at, stored in the provenance with --write (replacing an earlier one)
cp models/topics-cope-s1.safetensors "$TMP/h.safetensors"
expect 0 '"measure": "paragraph"' -- "$COPE" heads "$TMP/h.safetensors" --n 10 --write
expect 0 "" -- "$COPE" heads "$TMP/h.safetensors" --n 10 --write
n=$("$COPE" info "$TMP/h.safetensors" --json | grep -o '"heads"' | wc -l)
if [[ $n -eq 1 ]]; then ok; else bad "heads --write twice: $n \"heads\" keys in the provenance"; fi
# the rest of the provenance survives: the same keys and values apart from "heads"
prov() { "$COPE" info "$1" --json | /usr/bin/python3 -c 'import json, sys; p = json.load(sys.stdin)["provenance"]; p.pop("heads", None); print(json.dumps(p, sort_keys=True))'; }
if [[ "$(prov "$TMP/h.safetensors")" == "$(prov models/topics-cope-s1.safetensors)" && ! -e "$TMP/h.safetensors.tmp" ]]; then ok
else bad "heads --write changed the provenance beyond \"heads\" (or left its temporary file)"; fi
expect 0 '"measure": "counting"' -- "$COPE" heads models/counting3-cope-s1.safetensors --n 20
expect 1 "reads CoPE positions; rel has none" -- "$COPE" heads models/counting3-rel-s1.safetensors
expect 1 "heads: flipflop has no measure" -- "$COPE" heads models/flipflop-cope-s1.safetensors
# --corpus: a language model on a text file (the "text" tokenizer, a vocabulary of its most
# frequent pieces), perplexity on every window of a held-out file, Figure 4 inside its documents
for d in 1 2 3 4 5 6; do
    printf '= Doc %d =\n\nThe cat sat on the mat, and the dog sat on the log.\nA bird sang; the cat ran (fast).\n\n' "$d"
    printf '= = Part %d = =\nThe dog ate the food. Then the cat slept on the mat.\n\n' "$d"
done >"$TMP/corpus.txt"
head -c 40 "$TMP/corpus.txt" >"$TMP/tiny.txt"
lm=(train --corpus "$TMP/corpus.txt" --steps 4 --batch 4 --dim 16 --heads 2 --layers 1 --ctx 24 --vocab 30)
expect 0 "" -- "$COPE" "${lm[@]}" --pe cope --sep-keys --valid "$TMP/corpus.txt" --out "$TMP/lm.safetensors"
expect 0 "tokenizer +text, 30 pieces" -- "$COPE" info "$TMP/lm.safetensors"
ntok=$(tokens "$TMP/lm.safetensors" corpus_tokens)
expect 0 "perplexity [0-9.]+ +\($((ntok - 1)) scored tokens in windows of 24" -- "$COPE" eval "$TMP/lm.safetensors" --corpus "$TMP/corpus.txt"
expect 0 '"valid": \{"file": "corpus.txt".*"perplexity"' -- "$COPE" info "$TMP/lm.safetensors"
expect 0 "scored" -- "$COPE" eval "$TMP/lm.safetensors" --corpus "$TMP/corpus.txt" --examples "$TMP/lm.jsonl"
w=$(wc -l <"$TMP/lm.jsonl")
if [[ $w -eq $(((ntok - 1 + 23) / 24)) ]]; then ok; else bad "eval --corpus --examples: $w lines for $ntok tokens in windows of 24"; fi
expect 0 "windows of 24 tokens" -- "$COPE" locality "$TMP/lm.safetensors" --corpus "$TMP/corpus.txt"
expect 0 '"measure": "paragraph".*held-out windows' -- "$COPE" heads "$TMP/lm.safetensors" --corpus "$TMP/corpus.txt"
expect 2 "trained on a corpus: name a text file to read with --corpus" -- "$COPE" eval "$TMP/lm.safetensors"
expect 2 "--split is a task's" -- "$COPE" eval "$TMP/lm.safetensors" --corpus "$TMP/corpus.txt" --split train
expect 1 "tiny.txt has no document of 25 tokens" -- "$COPE" locality "$TMP/lm.safetensors" --corpus "$TMP/tiny.txt"
expect 1 "cannot read .*nope.txt" -- "$COPE" eval "$TMP/lm.safetensors" --corpus "$TMP/nope.txt"
expect 1 "cannot read .*nope.txt" -- "$COPE" "${lm[@]}" --valid "$TMP/nope.txt" --out "$TMP/x.safetensors"
expect 1 "tiny.txt has [0-9]+ tokens; training needs more than the context" -- "$COPE" train --corpus "$TMP/tiny.txt" --ctx 24 --out "$TMP/x.safetensors"
expect 2 "give --task or --corpus, not both" -- "$COPE" train --task toy --corpus "$TMP/corpus.txt" --out "$TMP/x.safetensors"
expect 2 "--vocab and --min-count are for --corpus" -- "$COPE" train --task toy --vocab 10 --out "$TMP/x.safetensors"
expect 2 "--train-set and --bucket are for tasks" -- "$COPE" "${lm[@]}" --bucket 2 --out "$TMP/x.safetensors"
expect 2 "--valid FILE is a held-out text for --corpus" -- "$COPE" train --task toy --valid "$TMP/corpus.txt" --out "$TMP/x.safetensors"
a=$("$COPE" sample --task toy --seed 5 --n 3); b=$("$COPE" sample --task toy --seed 5 --n 3)
if [[ "$a" == "$b" ]]; then ok; else bad "sample is not reproducible"; fi

# Every allocation failure ends in a one-line error (exit 1), never a crash or a hang: tests/fail_malloc.c
# fails allocation k (k = 1, 2, ... up to the command's count), for each command that allocates.
# Needs a C compiler and glibc; not with a sanitizer build (its allocator comes first).
if command -v "${CC:-cc}" >/dev/null && ! ldd "$COPE" 2>/dev/null | grep -q libasan &&
    "${CC:-cc}" -O1 -shared -fPIC -o "$TMP/fail_malloc.so" tests/fail_malloc.c 2>/dev/null; then
    sweep() { # name, command...
        local name=$1 n k rc crashes=""
        shift
        n=$(OMP_NUM_THREADS=1 COPE_FAIL_MALLOC=0 LD_PRELOAD="$TMP/fail_malloc.so" "$@" 2>&1 >/dev/null | sed -n 's/^allocations: //p')
        for ((k = 1; k <= ${n:-0}; k++)); do
            OMP_NUM_THREADS=1 COPE_FAIL_MALLOC=$k timeout 20 env LD_PRELOAD="$TMP/fail_malloc.so" "$@" >/dev/null 2>"$TMP/err"
            rc=$?
            if ((rc > 1)) || { ((rc == 1)) && ! tail -1 "$TMP/err" | grep -qE '^(cope: error: |libgomp: )'; }; then
                crashes+=" $k:$rc"
            fi
        done
        if [[ ${n:-0} -gt 10 && -z $crashes ]]; then ok; else bad "$name: allocation failures (of ${n:-?}) that crash or say nothing:$crashes"; fi
    }
    sweep eval "$COPE" eval "$TMP/toy.safetensors" --n 40
    sweep grad "$COPE" grad $G/cope_rel.model.safetensors --ids 1,2,3 --targets 2,3,4 --out "$TMP/g3.safetensors"
    sweep locality "$COPE" locality models/text-cope-s1.safetensors --n 1
    sweep heads "$COPE" heads models/counting3-cope-s1.safetensors --n 10
    sweep bench "$COPE" bench --steps 1 --warmup 0 --layers 1 --seq 8 --batch 2
    sweep train "$COPE" train --task toy --steps 2 --batch 4 --dim 8 --heads 2 --layers 1 --eval-n 8 --checkpoint-every 1 --out "$TMP/t.safetensors"
    sweep trace "$COPE" trace $G/cope.model.safetensors --ids 1,2 --out "$TMP/tr.safetensors"
    sweep sample "$COPE" sample --task toy
    sweep "train --corpus" "$COPE" train --corpus "$TMP/corpus.txt" --steps 1 --batch 2 --dim 8 --heads 2 --layers 1 --ctx 24 --valid "$TMP/corpus.txt" --out "$TMP/t.safetensors"
    sweep "locality --corpus" "$COPE" locality "$TMP/lm.safetensors" --corpus "$TMP/corpus.txt"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
