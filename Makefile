# kvfuse: `make run` and `make test` are the two entry points (see README.md).
BUILD_DIR ?= build
BUILD_TYPE ?= Release
APT_PACKAGES := cmake ninja-build g++ libgtest-dev libgmock-dev libbenchmark-dev libxxhash-dev libpcre2-dev libicu-dev nlohmann-json3-dev pkgconf libhnswlib-dev libpoppler-cpp-dev libcpp-httplib-dev libhiredis-dev libzstd-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps test-deps configure build run test fuzz fuzz-build asan clean

all: build

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# What the tests need beyond the build: node and the npm packages of the tests, as pinned by
# their lockfiles (the openai SDK for the conformance suite, tests/sdk; six models' real
# tokenizers with the reference tokenizer and chat-template renderer, tools/hf_reference;
# puppeteer-core for the web page, tests/web), Debian's chromium that the page test drives,
# redis-server and haproxy, which the shared-tier tests start on loopback ports, and Debian's
# torch, the reference of the qwen3 and gemma3 forward passes (tools/torch_reference; OpenBLAS
# first: on the reference BLAS torch runs 30x slower).
# Any node >= 18 will do, Debian's (18) or another already installed.
NPM_DIRS := tests/sdk tools/hf_reference tests/web
TEST_APT_PACKAGES := chromium redis-server haproxy libopenblas0-pthread python3-torch
test-deps:
	@command -v node >/dev/null && command -v npm >/dev/null || { \
	  echo "installing: nodejs npm"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }
	@for p in $(TEST_APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || { \
	    echo "installing: $$p"; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$p; }; \
	done
	@for d in $(NPM_DIRS); do \
	  [ $$d/node_modules/.package-lock.json -nt $$d/package-lock.json ] || (cd $$d && npm ci --no-audit --no-fund) || exit 1; \
	done

configure: deps
	@[ -f $(BUILD_DIR)/build.ninja ] || cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: configure
	cmake --build $(BUILD_DIR) -j $$(nproc)

DEMO_COLLECTION ?= $(BUILD_DIR)/demo-collection
DEMO_QUESTIONS := "Where does Julia Oyelaran live?" "Where is the company that Oswald Pellegrini works for based?" "Who is older, Pavel Petrov or Oswald Pellegrini?"

run: build
	$(BUILD_DIR)/kvfuse ingest -m models/demo.gguf --collection $(DEMO_COLLECTION) models/demo-world/corpus
	@for q in $(DEMO_QUESTIONS); do echo; echo "== $$q"; \
	  $(BUILD_DIR)/kvfuse ask -m models/demo.gguf --collection $(DEMO_COLLECTION) --compare "$$q" || exit 1; done
	@echo; $(BUILD_DIR)/kvfuse eval-qa -m models/demo.gguf -n 100

test: build test-deps
	python3 tools/check_layers.py src
	python3 tools/check_sizes.py src
	cd $(BUILD_DIR) && ctest --output-on-failure -j $$(nproc)

# Every fuzz target under libFuzzer with ASan + UBSan (clang), FUZZ_SECONDS each, from its
# committed corpus (fuzz/corpus/TARGET); new inputs go to build-fuzz/corpus, findings to
# build-fuzz/crash-*. Commit a finding's input to fuzz/corpus/TARGET once it is fixed.
FUZZ_SECONDS ?= 60
FUZZ_DIR ?= build-fuzz
FUZZ_PACKAGES := clang-14 libclang-rt-14-dev llvm-14
FUZZ_TARGETS := fuzz_gguf_reader fuzz_tokenizer fuzz_chat_template fuzz_openai_request fuzz_document_readers fuzz_chunk_file fuzz_grammar \
  fuzz_collection_manifest fuzz_remote_value

# Seeds beyond fuzz/corpus/TARGET: test data that already holds such inputs.
FUZZ_SEEDS_fuzz_chat_template := tests/data/chat tests/data/jinja

fuzz: $(addprefix fuzz-run-,$(FUZZ_TARGETS))

fuzz-build: deps
	@$(MAKE) --no-print-directory deps APT_PACKAGES="$(FUZZ_PACKAGES)"
	@[ -f $(FUZZ_DIR)/build.ninja ] || CC=clang-14 CXX=clang++-14 cmake -S . -B $(FUZZ_DIR) -G Ninja \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVFUSE_FUZZ=ON -DKVFUSE_BUILD_TESTS=OFF
	cmake --build $(FUZZ_DIR) -j $$(nproc) --target fuzz_targets

fuzz-run-%: fuzz-build
	@mkdir -p $(FUZZ_DIR)/corpus/$*; echo "== $* ($(FUZZ_SECONDS) s)"
	@ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer \
	  $(FUZZ_DIR)/fuzz/$* -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/crash-$*- $(FUZZ_DIR)/corpus/$* fuzz/corpus/$* $(FUZZ_SEEDS_$*) \
	    2>$(FUZZ_DIR)/$*.log || { tail -n 60 $(FUZZ_DIR)/$*.log; exit 1; }
	@grep -E "stat::number_of_executed_units|stat::peak_rss_mb" $(FUZZ_DIR)/$*.log

# The whole test suite with AddressSanitizer and UndefinedBehaviorSanitizer (gcc); any
# finding fails its test.
ASAN_DIR ?= build-asan
asan: deps test-deps
	@[ -f $(ASAN_DIR)/build.ninja ] || cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
	  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined"
	cmake --build $(ASAN_DIR) -j $$(nproc)
	cd $(ASAN_DIR) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $$(nproc) --timeout 1500

clean:
	rm -rf $(BUILD_DIR) $(FUZZ_DIR) $(ASAN_DIR)
