# kvfuse: `make run` and `make test` are the two entry points (see README.md).
BUILD_DIR ?= build
BUILD_TYPE ?= Release
APT_PACKAGES := cmake ninja-build g++ libgtest-dev libgmock-dev libbenchmark-dev libxxhash-dev libpcre2-dev libicu-dev nlohmann-json3-dev pkgconf libhnswlib-dev libpoppler-cpp-dev libcpp-httplib-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps configure build run test clean

all: build

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

configure: deps
	@[ -f $(BUILD_DIR)/build.ninja ] || cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: configure
	cmake --build $(BUILD_DIR) -j $$(nproc)

DEMO_COLLECTION ?= $(BUILD_DIR)/demo-collection
DEMO_QUESTIONS := "Where does Julia Oyelaran live?" "Where is the company that Oswald Pellegrini works for based?" "Who is older, Pavel Petrov or Oswald Pellegrini?"

run: build
	$(BUILD_DIR)/kvfuse ingest -m models/demo.gguf -c $(DEMO_COLLECTION) models/demo-world/corpus
	@for q in $(DEMO_QUESTIONS); do echo; echo "== $$q"; \
	  $(BUILD_DIR)/kvfuse ask -m models/demo.gguf -c $(DEMO_COLLECTION) --compare "$$q" || exit 1; done
	@echo; $(BUILD_DIR)/kvfuse eval-qa -m models/demo.gguf -n 100

test: build
	python3 tools/check_layers.py src
	cd $(BUILD_DIR) && ctest --output-on-failure -j $$(nproc)

clean:
	rm -rf $(BUILD_DIR)
