# Makefile — native core library, CLI and tests. See README.md.
CC      ?= cc
OPT     ?= -O3 -march=native
CFLAGS  ?= $(OPT) -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wno-unused-parameter -fopenmp-simd -fno-trapping-math -ffp-contract=fast
OMP     ?= -fopenmp
LDLIBS  += -lm
BUILD   ?= build

CORE_SRC := $(wildcard core/*.c)
CORE_HDR := $(wildcard core/*.h)
CORE_OBJ := $(CORE_SRC:core/%.c=$(BUILD)/core/%.o)

.PHONY: all test debug bench clean models results reliability lint format corpus
all: $(BUILD)/cope

$(BUILD)/core/%.o: core/%.c $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(OMP) -c $< -o $@

$(BUILD)/libcope.a: $(CORE_OBJ)
	ar rcs $@ $^

$(BUILD)/cope: cli/cope.c $(BUILD)/libcope.a
	$(CC) $(CFLAGS) $(OMP) -Icore $< $(BUILD)/libcope.a -o $@ $(LDLIBS)

$(BUILD)/test_core: tests/test_core.c tests/check.h tests/kernel_check.h $(BUILD)/libcope.a
	$(CC) $(CFLAGS) $(OMP) -Icore $< $(BUILD)/libcope.a -o $@ $(LDLIBS)

# The WebAssembly SIMD128 kernels, run natively on the intrinsics' emulation (core/simd.h picks
# tests/wasm_simd128_emul.h under COPE_SIMD128_EMULATION), against the reference: ops.c is compiled
# into the test with them, neither contracting a multiply and an add into an FMA (wasm has none),
# so that the same order of operations gives the same bits; the library supplies the rest.
SIMD128_TEST_SRC := tests/test_simd128.c core/ops.c core/ops_wasm.c core/gemm_wasm.c
$(BUILD)/test_simd128: $(SIMD128_TEST_SRC) tests/check.h tests/kernel_check.h tests/wasm_simd128_emul.h $(CORE_HDR) \
                       $(BUILD)/libcope.a
	$(CC) $(CFLAGS) $(OMP) -ffp-contract=off -DCOPE_SIMD128_EMULATION -Itests -Icore $(SIMD128_TEST_SRC) \
	    $(BUILD)/libcope.a -o $@ $(LDLIBS)

clean:
	rm -rf build build-debug build-lint

# Sanitizer build of the core and tests (AddressSanitizer + UndefinedBehaviorSanitizer, fatal).
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
debug:
	$(MAKE) --no-print-directory BUILD=build-debug OPT="$(SAN_FLAGS)" LDLIBS="-lm $(SAN_FLAGS)" build-debug/cope \
	    build-debug/test_core build-debug/test_simd128
	tests/run.sh "./build-debug/test_core" "./build-debug/test_simd128" "tests/test_cli.sh build-debug/cope"

# Each suite is a command that ends with "N passed, N failed"; other makefiles add theirs.
TEST_SUITES := "./$(BUILD)/test_core" "./$(BUILD)/test_simd128" "tests/test_cli.sh $(BUILD)/cope" \
               "tests/test_models.sh $(BUILD)/cope" "/usr/bin/python3 tests/test_examples.py $(BUILD)/cope"
TEST_DEPS   := all $(BUILD)/test_core $(BUILD)/test_simd128 corpus

-include wasm/wasm.mk
-include web/web.mk
include python/python.mk
include tests/fuzz/fuzz.mk

test: $(TEST_DEPS)
	tests/run.sh $(TEST_SUITES)

# The FMA throughput probe that bench/run.sh uses for the CPU's peak (bench/fma_peak.c).
$(BUILD)/fma_peak: bench/fma_peak.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(OMP) $< -o $@

bench: all $(BUILD)/fma_peak
	COPE=$(BUILD)/cope FMA_PEAK=$(BUILD)/fma_peak bench/run.sh

# Formatting (clang-format for C, Prettier from the lockfile for JS and CSS) and warnings as errors.
# `make format` rewrites the files; `make lint` (run by .ci/run) fails on any difference or warning.
FMT_C  := $(wildcard core/*.[ch] cli/*.[ch] wasm/*.c tests/*.[ch] tests/fuzz/*.c bench/*.c)
FMT_JS := web wasm bench
PRETTIER := node_modules/.bin/prettier
format: npm-deps
	clang-format -i $(FMT_C)
	$(PRETTIER) --log-level warn --write $(FMT_JS)

lint: npm-deps
	@command -v clang-format >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y clang-format; }
	clang-format --dry-run --Werror $(FMT_C)
	$(PRETTIER) --log-level warn --check $(FMT_JS)
	$(MAKE) --no-print-directory BUILD=build-lint OPT="-O2 -march=native -Werror" build-lint/cope build-lint/test_core \
	    build-lint/test_simd128
	$(CC) $(CFLAGS) -Werror -fsyntax-only -Icore bench/wasm_native.c $(wildcard tests/fuzz/*.c)
	$(EMCC) $(WASM_CFLAGS) -Werror -msimd128 -fsyntax-only $(WASM_SRC)
	$(EMCC) $(WASM_CFLAGS) -Werror -fsyntax-only $(WASM_SRC)

# The README's reliability table, generated from the loader and CLI tests
reliability: all $(BUILD)/test_core web browser-tools
	tests/reliability.sh $(BUILD)/cope

# The real-text corpus: prose from the reStructuredText of Debian's python3.11-doc (PSF licence),
# installed when missing, in the Wikitext layout (models/corpus.py). The pydoc models train on it and
# their tests read its held-out file.
CORPUS_RST := /usr/share/doc/python3.11/html/_sources
corpus: build/corpus/pydoc-train.txt
build/corpus/pydoc-train.txt: models/corpus.py
	@test -d $(CORPUS_RST) || { $(SUDO) apt-get update && $(SUDO) apt-get install -y python3.11-doc; }
	/usr/bin/python3 models/corpus.py build/corpus

# Shipped models and the paper's tables in miniature (see models/results.py; hours of CPU for all).
models: all corpus
	/usr/bin/python3 models/results.py --ship-only

results: all corpus
	/usr/bin/python3 models/results.py
