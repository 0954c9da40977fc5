# python.mk — the PyTorch package (python/cope_torch), included by the top-level Makefile. Its test
# (tests/test_torch.py) compares it with the core on every golden and shipped model; it needs
# Debian's python3-torch, installed here when missing (after the other apt-get users: two apt-get
# runs under make -j would fight over dpkg's lock).
TORCH_PY := /usr/bin/python3
.PHONY: torch-deps
torch-deps: | wasm-tools corpus
	@$(TORCH_PY) -c 'import torch, numpy' 2>/dev/null || \
	  { $(SUDO) apt-get update && $(SUDO) apt-get install -y python3-torch python3-numpy; }

TEST_SUITES += "$(TORCH_PY) tests/test_torch.py $(BUILD)/cope"
TEST_DEPS   += torch-deps

# The core as a shared library for python/cope_torch/libcope.py (ctypes): the task generators and
# the seeded initialization that python/train.py uses.
$(BUILD)/libcope.so: $(CORE_SRC) $(CORE_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -shared $(CORE_SRC) -o $@ -lm
TEST_DEPS += $(BUILD)/libcope.so

# What the wasm module and the page do with a model of the paper's language-model size (not a
# test): bench/big_model.py writes one (131M parameters, random weights) through the PyTorch
# package, bench/big_bench.mjs loads and traces it in Node and in Chromium -> bench/big-results.json
.PHONY: bench-big
bench-big: torch-deps web browser-tools $(WASM_DIR)/bench_native
	@mkdir -p $(BUILD)/big
	$(TORCH_PY) bench/big_model.py $(BUILD)/big/gpt2-cope.safetensors
	node bench/big_bench.mjs $(BUILD)/big/gpt2-cope.safetensors
