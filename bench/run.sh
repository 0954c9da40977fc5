#!/usr/bin/env bash
# run.sh — training throughput of the C trainer beside PyTorch + OpenBLAS, in one run on one machine,
# on the reference config (4 layers, D=64, 4 heads, d_ff=256, T=128, batch 32, CoPE npos 64) and two
# larger ones (4 layers, D=128 and D=256, T=256) so scaling shows. Writes bench/results.md.
# `make bench` runs it with COPE=build/cope and FMA_PEAK=build/fma_peak (bench/fma_peak.c).
# PyTorch is Debian's python3-torch; it calls libblas.so.3, which is Debian's reference BLAS unless
# libopenblas0-pthread is installed, so both are installed here when missing and the BLAS that
# PyTorch actually mapped is checked and printed.
set -eu
cd "$(dirname "$0")/.."
COPE=${COPE:-build/cope}
FMA_PEAK=${FMA_PEAK:-build/fma_peak}
STEPS=${STEPS:-10}   # timed steps per row (each program reports the median)
WARMUP=${WARMUP:-2}
ROW_LIMIT=${ROW_LIMIT:-60} # seconds; a row over it is left empty (2 threads on a busy machine crawl)
PY=/usr/bin/python3  # Debian's interpreter, the one python3-torch is installed for
out=bench/results.md
start=$(date +%s)
load_before=$(uptime | sed 's/.*load average: //')

# --- PyTorch and a real BLAS ---------------------------------------------------------------------
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
missing=""
$PY -c 'import torch, numpy' 2>/dev/null || missing="python3-torch python3-numpy"
dpkg -s libopenblas0-pthread >/dev/null 2>&1 || missing="$missing libopenblas0-pthread"
if [ -n "$missing" ]; then
    echo "installing$missing for the comparison..." >&2
    # -o DPkg::Lock::Timeout: other builds on this machine may hold dpkg's lock for a while
    $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=300 $missing >/dev/null ||
        { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=300 $missing >/dev/null; }
fi

field() { # KEY LINE: the value of KEY=value in LINE (empty when absent)
    [[ " $2 " =~ [[:space:]]$1=([^[:space:]]*) ]] && echo "${BASH_REMATCH[1]}" || true
}

blas_line=$(env -u OPENBLAS_CORETYPE $PY bench/torch_bench.py --blas-only)
blas=$(field blas "$blas_line")
if [ "$blas" != openblas ]; then
    echo "error: PyTorch loaded BLAS '$blas' ($(field lib "$blas_line")), not OpenBLAS;" >&2
    echo "  libblas.so.3 -> $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo '?')." >&2
    echo "  Select it with: update-alternatives --config libblas.so.3-x86_64-linux-gnu" >&2
    exit 1
fi
auto_core=$(field core "$blas_line")

# --- The CPU and its fp32 peak --------------------------------------------------------------------
flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { [[ " $flags " == *" $1 "* ]]; }
model=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
cpu_id=$(awk -F': ' '/^cpu family/ {f = $2} /^model\t/ {m = $2} END {print "family " f " model " m}' /proc/cpuinfo)
mhz=$(awk -F': ' '/^cpu MHz/ {print $2; exit}' /proc/cpuinfo)
cores=$(nproc)
# OpenBLAS 0.3.21 (Debian 12) picks its kernels from a table of known CPU models; on a newer model it
# falls back to the SSE3 "Prescott" kernels, about 4x slower here. Then the PyTorch rows name the
# kernel set the CPU's flags allow (OPENBLAS_CORETYPE, read by OpenBLAS when it loads).
coretype=""
if [[ $auto_core =~ ^(Katmai|Coppermine|Northwood|Prescott|Banias|Core2|Penryn|Dunnington|Nehalem|Atom|Sandybridge|Opteron.*|Barcelona|Bobcat|Bulldozer|Piledriver|Steamroller|Excavator)$ ]] && has avx2 && has fma; then
    if has avx512_bf16; then coretype=Cooperlake; elif has avx512f; then coretype=SkylakeX; else coretype=Haswell; fi
    got=$(field core "$(OPENBLAS_CORETYPE=$coretype $PY bench/torch_bench.py --blas-only)")
    [ "${got,,}" = "${coretype,,}" ] || { echo "error: OPENBLAS_CORETYPE=$coretype gave core '$got'" >&2; exit 1; }
    export OPENBLAS_CORETYPE=$coretype
fi
# Peak per core = fp32 lanes x FMA units x 2 flops x clock. Lanes from the flags; FMA units:
# fma_peak times 512-bit against 256-bit FMAs (two 256-bit units on every AVX2 core), which tells
# one 512-bit unit from two; the clock is /proc/cpuinfo's nominal MHz (the core may run faster, so
# fma_peak's measured rate is printed beside it).
fma_line=$($FMA_PEAK)
if has avx512f; then lanes=16; units=$(field units "$fma_line"); isa=AVX-512
elif has avx2 && has fma; then lanes=8; units=2; isa="AVX2+FMA"
else lanes=4; units=2; isa="SSE (no FMA: one add and one multiply unit assumed)"; fi
peak_core=$(awk -v l=$lanes -v u=$units -v m="$mhz" 'BEGIN {printf "%.1f", l * u * 2 * m / 1000}')
# Is the second core free? Two threads of FMAs should run at twice one thread's rate.
two_core=$(awk -v a="$(field gflops_1t "$fma_line")" -v b="$(field gflops_2t "$fma_line")" 'BEGIN {printf "%.2f", (a > 0 ? b / a : 2)}')
busy=$(awk -v x="$two_core" -v l="${load_before%%,*}" 'BEGIN {print ((x < 1.6 || l > 0.5) ? 1 : 0)}')
share() { # GFLOPS THREADS
    awk -v g="$1" -v p="$peak_core" -v t="$2" -v c="$cores" 'BEGIN {if (t > c) t = c; printf "%.1f%%", 100 * g / (p * t)}'
}

# --- Rows ------------------------------------------------------------------------------------------
# name|layers|dim|seq|batch: the larger configs use smaller batches so a step stays near a second
configs=("ref|4|64|128|32" "d128|4|128|256|8" "d256|4|256|256|4")
# PyTorch settings: torch.set_num_threads, OPENBLAS_NUM_THREADS. "PyTorch best" is the fastest.
torch_settings=("1 1" "2 2" "2 1" "1 2")

declare -A R # R[config,row] = tokens/s
table() {    # one config: prints its markdown table, fills R
    local name=$1 L=$2 D=$3 T=$4 B=$5
    local size=(--layers "$L" --dim "$D" --heads 4 --ff $((4 * D)) --npos 64 --vocab 64 --seq "$T" --batch "$B")
    echo "### $([ "$name" = ref ] && echo 'Reference config: ')$L layers, D=$D, 4 heads, d_ff=$((4 * D)), T=$T, batch $B ($((B * T)) tokens a step)"
    echo
    echo "| run | threads | tokens/s | step ms | GFLOP/s | share of peak |"
    echo "|---|---|---|---|---|---|"
    local pe th line tps gf flops_tok=""
    for pe in cope none; do
        for th in 1 2; do
            line=$(timeout "$ROW_LIMIT" "$COPE" bench --pe $pe --threads $th --steps "$STEPS" --warmup "$WARMUP" "${size[@]}" | tail -1) || true
            tps=$(field tokens/s "$line")
            if [ -z "$tps" ]; then
                echo "| C pe=$pe | $th | over $ROW_LIMIT s | | | |"
                continue
            fi
            gf=$(field gflops "$line")
            R[$name,c_${pe}_$th]=$tps
            # model flops per token, the same count for PyTorch (see the notes below the tables)
            [ $pe = cope ] && flops_tok=$(awk -v g="$gf" -v t="$tps" 'BEGIN {print g * 1e9 / t}')
            echo "| C pe=$pe | $th | $tps | $(field step_ms "$line") | $gf | $(share "$gf" $th) |"
        done
    done
    local t b best=0 best_label="" rows=("${torch_settings[@]}")
    [ "$name" = ref ] && [ -n "$coretype" ] && rows+=("1 1 auto")
    for spec in "${rows[@]}"; do
        set -- $spec
        t=$1 b=$2
        if [ "${3:-}" = auto ]; then
            line=$(env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS=$b timeout "$ROW_LIMIT" $PY bench/torch_bench.py --threads $t --steps "$STEPS" --warmup "$WARMUP" "${size[@]}" | tail -1) || true
        else
            line=$(OPENBLAS_NUM_THREADS=$b timeout "$ROW_LIMIT" $PY bench/torch_bench.py --threads $t --steps "$STEPS" --warmup "$WARMUP" "${size[@]}" | tail -1) || true
        fi
        if [ -z "$(field tokens/s "$line")" ]; then
            echo "| PyTorch pe=cope | torch $t, OpenBLAS $b | over $ROW_LIMIT s | | | |"
            continue
        fi
        [ "$(field blas_threads "$line")" = "$b" ] || { echo "error: OpenBLAS did not take $b threads: $line" >&2; exit 1; }
        tps=$(field tokens/s "$line")
        gf=$(awk -v f="$flops_tok" -v t="$tps" 'BEGIN {printf "%.2f", f * t * 1e-9}')
        local used=$((t > b ? t : b))
        echo "| PyTorch pe=cope, OpenBLAS $(field core "$line")$([ "${3:-}" = auto ] && echo ' (as detected)') | torch $t, OpenBLAS $b | $tps | $(field step_ms "$line") | $gf | $(share "$gf" $used) |"
        if [ "${3:-}" != auto ]; then
            R[$name,t_${t}_$b]=$tps
            if awk -v a="$tps" -v b="$best" 'BEGIN {exit !(a > b)}'; then best=$tps best_label="torch $t, OpenBLAS $b"; fi
        fi
    done
    R[$name,best]=$best
    R[$name,best_label]=$best_label
    echo
}

ratios() { # the goals of issue 10, from the rows above
    echo "| config | C / PyTorch, 1 thread (goal ≥ 2) | C 2 threads / PyTorch best (goal ≥ 3) | PyTorch best is | C 2 threads / 1 thread | CoPE overhead none/cope, 1 thread (goal ≤ 1.15) | same, 2 threads |"
    echo "|---|---|---|---|---|---|---|"
    local c name
    for c in "${configs[@]}"; do
        name=${c%%|*}
        awk -v n="$name" -v c1="${R[$name,c_cope_1]}" -v c2="${R[$name,c_cope_2]}" -v n1="${R[$name,c_none_1]}" \
            -v n2="${R[$name,c_none_2]}" -v t1="${R[$name,t_1_1]}" -v tb="${R[$name,best]}" -v bl="${R[$name,best_label]}" \
            'function r(a, b) { return a > 0 && b > 0 ? sprintf("%.2fx", a / b) : "n/a" }
             BEGIN {printf "| %s | %s | %s | %s | %s | %s | %s |\n", n, r(c1, t1), r(c2, tb), bl, r(c2, c1), r(n1, c1), r(n2, c2)}'
    done
}

body=$(
    for c in "${configs[@]}"; do
        IFS='|' read -r name L D T B <<<"$c"
        table "$name" "$L" "$D" "$T" "$B"
    done
    echo "### Ratios (tokens/s, same run)"
    echo
    ratios
)
[ -n "$body" ] || exit 1
load_after=$(uptime | sed 's/.*load average: //')
secs=$(($(date +%s) - start))

{
    echo "# Training throughput (generated by \`make bench\`, $(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "Machine: $model ($cpu_id), $cores cores, $mhz MHz nominal, $isa. Load average (1, 5, 15 min)"
    echo "before: $load_before; after: $load_after (the machine is shared; timings under load are noisy)."
    echo
    if [ "$busy" = 1 ]; then
        echo "**Warning: the machine was busy** (load ${load_before%%,*} before the run; two threads of FMAs ran at"
        echo "${two_core}x one thread's rate, 2x when a second core is free). The 2-thread rows and ratios below"
        echo "measure the contention more than the code; rerun \`make bench\` on a quiet machine."
        echo
    fi
    echo "Peak per core: $lanes fp32 lanes x $units FMA units x 2 flops x $mhz MHz = **$peak_core GFLOP/s**;"
    echo "share of peak = GFLOP/s / (peak per core x cores used). The FMA unit count is measured by"
    echo "\`bench/fma_peak.c\` (512-bit vs 256-bit FMA throughput); it measured"
    echo "$(field gflops_1t "$fma_line") GFLOP/s on one core and $(field gflops_2t "$fma_line") on two, the 256-bit rate implying a"
    echo "$(field ghz "$fma_line") GHz clock: above the nominal clock, so the real peak is higher than the one used here."
    echo
    echo "PyTorch $($PY -c 'import torch; print(torch.__version__)') (Debian python3-torch), float32, BLAS as mapped into the process:"
    echo "$(field lib "$blas_line") (OpenBLAS $(field version "$blas_line"); libblas.so.3 ->"
    echo "$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3))."
    if [ -n "$coretype" ]; then
        echo "OpenBLAS detected kernel set **$auto_core** for this CPU (it does not know this model), so the"
        echo "PyTorch rows run with OPENBLAS_CORETYPE=$coretype, the kernels the CPU's flags allow; one row"
        echo "on the reference config shows the detected kernels."
    else
        echo "OpenBLAS kernel set: $auto_core (as detected)."
    fi
    echo
    echo "All runs: 4 heads, d_ff = 4D, vocab 64, tied embeddings, AdamW, loss on every token of random"
    echo "sequences, CoPE npos 64 (pe=none: no position encoding). Each row is the median of $STEPS steps"
    echo "after $WARMUP warm-up steps. GFLOP/s counts the model's flops (\`cope bench\`: 6 per multiply-add"
    echo "of the matmuls, the causal attention pairs only); PyTorch rows are given the same count per"
    echo "token (it computes the full T x T attention and masks it, so it does more work than counted)."
    echo "PyTorch threads: torch.set_num_threads and OPENBLAS_NUM_THREADS, two separate pools."
    echo
    echo "$body"
    echo
    echo "\`make bench\` took $secs s."
} | tee "$out"
