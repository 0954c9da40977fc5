# fuzz.mk — libFuzzer harnesses for the core (clang 14 + Debian's libclang-rt-14-dev), included by
# the top-level Makefile. `make fuzz` runs each harness for FUZZ_SECONDS on its seed corpus (in
# tests/fuzz/corpus/NAME, copied so the committed corpus stays small); crashes are written to
# build/fuzz/ and make the target fail.
FUZZ_SECONDS ?= 150
FUZZ_NAMES   := load json tokenize trace force wasm
FUZZ_BINS    := $(FUZZ_NAMES:%=build/fuzz/fuzz_%)
FUZZ_CC      := clang
FUZZ_FLAGS   := -g -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=all -Icore

.PHONY: fuzz fuzz-build fuzz-tools
fuzz-tools:
	@command -v $(FUZZ_CC) >/dev/null && ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || \
	  { apt-get update && apt-get install -y clang libclang-rt-14-dev; }

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(CORE_SRC) $(CORE_HDR) | fuzz-tools
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) $< $(CORE_SRC) -o $@ -lm

build/fuzz/fuzz_wasm: wasm/api.c # the harness includes the wasm boundary, built natively

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_NAMES)

# The long campaign the README's table records: every harness for 10 minutes (about an hour on
# 2 cores), results in tests/fuzz/campaign.tsv (committed; `make reliability` puts it in the README)
FUZZ_CAMPAIGN ?= 600
.PHONY: fuzz-campaign
fuzz-campaign: fuzz-build
	@rm -f tests/fuzz/campaign.tsv
	FUZZ_RECORD=tests/fuzz/campaign.tsv tests/fuzz/run.sh $(FUZZ_CAMPAIGN) $(FUZZ_NAMES)
