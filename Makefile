# The two commands from the README. Both install what the machine lacks first.
CARGO ?= cargo
DEMO_DIR ?= $(CURDIR)/demo-out

.PHONY: deps build test test-vm lint demo bench fuzz clean rpm

deps:
	@scripts/install-deps.sh

build: deps
	$(CARGO) build --workspace --bins

lint: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	python3 scripts/check-module-cycles.py agent/src testbed/src

test: lint
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace
	scripts/conformance.sh
	specs/tests/run.sh

# The VM tier: what needs a kernel of its own (thin pools, modprobe, sysctl -w, kernel-guard's hook,
# the firstboot unit), each test in a QEMU VM booting Debian's kernel. About 10 minutes under
# software emulation; CI runs it after `test` (.ci/run). See docs/vm-tier.md.
test-vm: deps
	$(CARGO) build --workspace --bins
	scripts/test-vm.sh

# The agent's RPM (glibc 2.17 build): target/rpm/RPMS/x86_64/. See specs/build-rpms.sh.
rpm: deps
	specs/build-rpms.sh

demo: build
	DEMO_DIR=$(DEMO_DIR) scripts/demo.sh

bench: deps
	bench/run.sh

# The fuzz targets of fuzz/, FUZZ_SECONDS each (default 60). Needs a nightly toolchain; not
# part of `test`. See docs/fuzzing.md.
fuzz:
	scripts/fuzz.sh

clean:
	$(CARGO) clean
	rm -rf $(DEMO_DIR)
