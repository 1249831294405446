# vigil: the front door. CMake (Ninja) does the building; these targets are
# what a person types. `make run` and `make test` install what is missing first.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
CONFIG     ?= config/demo.json

.PHONY: all build asan fuzz deps run test test-unit test-asan test-fuzz bench clean format

all: build

deps:
	@bash scripts/install-deps.sh
	@bash scripts/setup-models.sh
	@bash scripts/setup-web.sh

# A build tree configured before the web app's packages were installed is
# configured again once they are, so that it gains the web app's step.
WEB_INSTALLED := $(wildcard web/node_modules/.vigil-lock-sha256)

$(BUILD)/build.ninja: $(WEB_INSTALLED)
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
	@touch $@

build: $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

$(ASAN_BUILD)/build.ninja: $(WEB_INSTALLED)
	cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DVG_SANITIZE=ON
	@touch $@

asan: $(ASAN_BUILD)/build.ninja
	cmake --build $(ASAN_BUILD) -j $(JOBS)

$(FUZZ_BUILD)/build.ninja:
	CC=clang cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DVG_FUZZ=ON

fuzz: $(FUZZ_BUILD)/build.ninja
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

# Starts the demo: simulated cameras plus a vigil node with the web API.
run: deps build
	bash scripts/demo.sh $(BUILD)/vigil $(CONFIG)

# Every test: unit and black-box tests on the normal build, again under
# AddressSanitizer + UndefinedBehaviorSanitizer, and the fuzz corpora.
test: deps build asan fuzz
	cd $(BUILD) && ctest --output-on-failure -j 2
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j 2
	cd $(FUZZ_BUILD) && ctest --output-on-failure -L '^fuzz$$'

# Runs each fuzzer for 20 s on top of its corpus.
test-fuzz: deps fuzz
	cd $(FUZZ_BUILD) && ctest --output-on-failure -L fuzzrun

bench: deps build
	bash bench/run.sh $(BUILD)/vigil

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c')
