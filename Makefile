# The two set-up commands of the README:
#   make run    installs dependencies, builds, and starts medulla on the embedded default
#   make test   installs dependencies, builds, and runs every test (unit, end-to-end, fuzz smoke)
PRESET ?= release
BUILD_DIR := build/$(PRESET)
JOBS ?= $(shell nproc)

.PHONY: run test deps build e2e-deps test-debug fuzz fuzz-build bench format clean

run: deps
	cmake --preset $(PRESET) >/dev/null
	cmake --build --preset $(PRESET) --target medulla -j $(JOBS)
	$(BUILD_DIR)/medulla serve

test: deps build fuzz-build e2e-deps
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

deps:
	./scripts/install-deps.sh

build:
	cmake --preset $(PRESET) >/dev/null
	cmake --build --preset $(PRESET) -j $(JOBS)

e2e-deps:
	./scripts/install-e2e-deps.sh

# The whole suite again under AddressSanitizer + UBSan (the fuzz smoke run already is).
test-debug: deps e2e-deps
	cmake --preset debug >/dev/null
	cmake --build --preset debug -j $(JOBS)
	ctest --test-dir build/debug --output-on-failure -j $(JOBS) -E fuzz_smoke

# libFuzzer targets (clang). `make test` runs them briefly through CTest (fuzz_smoke);
# `make fuzz` runs them for FUZZ_SECONDS each.
# Only the fuzz targets: other libraries use Asio coroutines, which clang 14 with Boost 1.74
# does not build.
FUZZ_TARGETS = fhir_resource_fuzz fhirpath_fuzz search_query_fuzz ucum_fuzz jwt_fuzz \
  audit_journal_fuzz consent_fuzz telemetry_fuzz mqtt_fuzz
fuzz-build:
	cmake --preset fuzz >/dev/null
	cmake --build build/fuzz --target $(FUZZ_TARGETS) -j $(JOBS)

fuzz: deps fuzz-build
	./fuzz/run.sh build/fuzz $${FUZZ_SECONDS:-60}

bench: build
	MEDULLA_BENCH_DEPS=1 ./scripts/install-deps.sh
	./bench/run.sh $(BUILD_DIR)

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf build
