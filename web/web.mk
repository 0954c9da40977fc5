# web.mk — the visualizer page and widget (included by the top-level Makefile). See web/README.md.
#   make web     builds build/web/: the page, embed.html, cope-viz.js, the worker, models/index.json
#   make serve   builds and serves it (PORT=8000 by default) and prints the URL
# Models: every models/*.safetensors; when there are none yet, two small quick-trained demo models
# (counting3, CoPE and relative PE, a few seconds each) so the page always has something to show.
WEB_DIR      := build/web
WEB_SRC      := $(wildcard web/src/*.js web/src/*.css web/*.html web/examples/*.html) web/build.mjs
WEB_MODELS   := $(wildcard models/*.safetensors)
WEB_DEMO     := build/web-demo
ifeq ($(strip $(WEB_MODELS)),)
WEB_MODELS   := $(WEB_DEMO)/counting3-cope-s1.safetensors $(WEB_DEMO)/counting3-rel-s1.safetensors
endif
PORT         ?= 8000

.PHONY: web serve web-test bench-page bench-train
web: $(WEB_DIR)/index.html

$(WEB_DIR)/index.html: $(WEB_SRC) $(WEB_MODELS) $(WASM_OUT) node_modules/.package-lock.json
	node web/build.mjs --out $(WEB_DIR) --wasm $(WASM_DIR) $(WEB_MODELS)

$(WEB_DEMO)/counting3-%-s1.safetensors: | $(BUILD)/cope
	@mkdir -p $(WEB_DEMO)
	$(BUILD)/cope train --task counting3 --pe $* --layers 2 --dim 32 --heads 2 --steps 300 --seed 1 --threads 1 --out $@

serve: web
	node web/serve.mjs $(WEB_DIR) --port $(PORT)

# The page's stepping and first-load benchmark (not a test): bench/page_bench.mjs
bench-page: web browser-tools
	node bench/page_bench.mjs

# How long the Train view takes to teach CoPE counting in Chromium (not a test): bench/train_bench.mjs
bench-train: web browser-tools all
	node bench/train_bench.mjs --runs 3

# The page and the widget under heavy use (not a test): 20 widgets (web/examples/many-widgets.html),
# Play for 10 minutes at T=512, 1,000 model switches -> bench/heavy-results.json
.PHONY: bench-heavy
bench-heavy: web browser-tools
	node bench/heavy_bench.mjs --minutes 10 --switches 1000

# Browser tests: Debian's chromium driven by playwright-core; browser-tools (wasm/wasm.mk) installs
# chromium with apt-get when it is missing.
web-test: web browser-tools
	node web/test/browser.test.mjs

TEST_SUITES += "node web/test/browser.test.mjs"
TEST_DEPS   += web browser-tools
