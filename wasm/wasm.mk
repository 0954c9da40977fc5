# wasm.mk — the WebAssembly build (included by the top-level Makefile). See wasm/README.md.
# Outputs in build/wasm/ (a stable path for the web page):
#   cope.mjs            the ES module; it loads cope-simd.wasm or cope-scalar.wasm beside it, and
#                       cope-train-simd.wasm or cope-train-scalar.wasm for CopeTrainer (the same
#                       core with the training exports: backward and AdamW, ~20 KB more gzipped,
#                       which a page that only shows models does not load)
#   cope.single.mjs     the same module with both .wasm inlined (one file, for a blog widget)
# Debian's emscripten 3.1.6 needs NODE_PATH for its optimizer (Debian's node-acorn is not on the
# default path of a node installed from elsewhere: "Cannot find module 'acorn'" at -O2 and up); the
# tools are installed on first use when missing.
WASM_DIR   := build/wasm
EMCC       := NODE_PATH=/usr/share/nodejs emcc
SUDO       := $(if $(filter 0,$(shell id -u)),,sudo)
WASM_SRC   := $(CORE_SRC) wasm/api.c
WASM_CFLAGS := -O3 -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wno-unused-parameter \
               -fopenmp-simd -fno-trapping-math -Icore
# A standalone reactor: no Emscripten JS glue (its 3.1.6 glue does not run as an ES module in
# Node 20); wasm/cope.mjs instantiates it. The only import is emscripten_notify_memory_growth.
WASM_LDFLAGS := --no-entry -sSTANDALONE_WASM=1 -sALLOW_MEMORY_GROWTH=1 -sINITIAL_MEMORY=16MB \
                -sMAXIMUM_MEMORY=4GB -sTOTAL_STACK=1MB -sMALLOC=emmalloc
WASM_OUT   := $(WASM_DIR)/cope-simd.wasm $(WASM_DIR)/cope-scalar.wasm $(WASM_DIR)/cope-train-simd.wasm \
              $(WASM_DIR)/cope-train-scalar.wasm $(WASM_DIR)/cope.mjs \
              $(WASM_DIR)/cope.single.mjs

.PHONY: wasm wasm-tools browser-tools npm-deps bench-wasm
wasm: $(WASM_OUT)

# The Debian packages the wasm build and the browser tests need, installed in one apt-get call
# (two targets running apt-get under `make -j` would fight over dpkg's lock). The browser test
# drives Debian's Chromium with playwright-core.
TOOLS_MISSING = $(strip $(if $(shell command -v emcc),,emscripten) $(if $(shell command -v node),,nodejs npm) \
                $(if $(shell command -v chromium),,chromium))
wasm-tools:
	@$(if $(TOOLS_MISSING),$(SUDO) apt-get update && $(SUDO) apt-get install -y $(TOOLS_MISSING),true)
browser-tools: wasm-tools

# npm packages from the committed lockfile (ours: playwright-core for the browser test, the tfjs
# peer of the benchmark). The stamp is npm's own record of the last install.
node_modules/.package-lock.json: package.json package-lock.json | wasm-tools
	npm ci --no-audit --no-fund
npm-deps: node_modules/.package-lock.json

# The rules for one output folder: $(1) the folder, $(2) extra emcc flags. The normal build and
# the checked build below are two instances of the same rules.
define WASM_BUILD
$(1)/cope-simd.wasm: $$(WASM_SRC) $$(CORE_HDR) wasm/wasm.mk | wasm-tools
	@mkdir -p $(1)
	$$(EMCC) $$(WASM_CFLAGS) -DCOPE_WASM_NO_TRAIN -msimd128 -mbulk-memory $$(WASM_SRC) $$(WASM_LDFLAGS) $(2) -o $$@

$(1)/cope-scalar.wasm: $$(WASM_SRC) $$(CORE_HDR) wasm/wasm.mk | wasm-tools
	@mkdir -p $(1)
	$$(EMCC) $$(WASM_CFLAGS) -DCOPE_WASM_NO_TRAIN $$(WASM_SRC) $$(WASM_LDFLAGS) $(2) -o $$@

$(1)/cope-train-simd.wasm: $$(WASM_SRC) $$(CORE_HDR) wasm/wasm.mk | wasm-tools
	@mkdir -p $(1)
	$$(EMCC) $$(WASM_CFLAGS) -msimd128 -mbulk-memory $$(WASM_SRC) $$(WASM_LDFLAGS) $(2) -o $$@

$(1)/cope-train-scalar.wasm: $$(WASM_SRC) $$(CORE_HDR) wasm/wasm.mk | wasm-tools
	@mkdir -p $(1)
	$$(EMCC) $$(WASM_CFLAGS) $$(WASM_SRC) $$(WASM_LDFLAGS) $(2) -o $$@

$(1)/cope.mjs: wasm/cope.mjs
	@mkdir -p $(1)
	cp $$< $$@

$(1)/cope.single.mjs: wasm/single.mjs wasm/cope.mjs $(1)/cope-simd.wasm $(1)/cope-scalar.wasm
	node wasm/single.mjs $$@ wasm/cope.mjs $(1)/cope-simd.wasm $(1)/cope-scalar.wasm
endef

$(eval $(call WASM_BUILD,$(WASM_DIR),))

TEST_SUITES += "wasm/run-tests.sh"
TEST_DEPS   += wasm $(WASM_DIR)/bench_native npm-deps browser-tools

# Benchmarks (not a test): wasm SIMD / scalar, native single-threaded, TensorFlow.js
$(WASM_DIR)/bench_native: bench/wasm_native.c $(BUILD)/libcope.a
	@mkdir -p $(WASM_DIR)
	$(CC) $(CFLAGS) $(OMP) -Icore $< $(BUILD)/libcope.a -o $@ $(LDLIBS)

bench-wasm: wasm all npm-deps $(WASM_DIR)/bench_native
	node bench/wasm_bench.mjs

# The checked build for CI: both variants with -sSAFE_HEAP=1 -sASSERTIONS=2, the same cope.mjs,
# and the whole wasm suite run against it (`make wasm-check-test`, called by .ci/run).
WASM_CHECK_DIR := build/wasm-check
.PHONY: wasm-check wasm-check-test
$(eval $(call WASM_BUILD,$(WASM_CHECK_DIR),-sSAFE_HEAP=1 -sASSERTIONS=2))

wasm-check: $(WASM_OUT:$(WASM_DIR)/%=$(WASM_CHECK_DIR)/%)

wasm-check-test: wasm-check all npm-deps $(WASM_DIR)/bench_native
	COPE_WASM_DIR=$(CURDIR)/$(WASM_CHECK_DIR) wasm/run-tests.sh
