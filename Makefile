# reinit — works with GNU make and FreeBSD's make (no GNU-only functions).
#
#   make            static release binary: target/$(HOST)/release/reinit
#   make test       every test tier: unit, namespace, VM (needs root and tests/vm/deps.sh)
#   make check      fmt + clippy (-D warnings) + test
#   make install    install as $(DESTDIR)$(PREFIX)/sbin/init, keeping the old one as init.bak
#   make freebsd    FreeBSD gate: type-check + link x86_64, type-check aarch64
#   make demo       the main job in one command: install what the VM needs, build, boot a VM
#                   whose initramfs reroots onto an NBD root started by /etc/rc.reroot
#   make test-vm    the VM tier alone

CARGO   ?= cargo
PREFIX  ?= /
SBINDIR ?= $(PREFIX)/sbin
HOST    != rustc -vV | sed -n 's/^host: //p'
STATIC  = -C target-feature=+crt-static
BIN     = target/$(HOST)/release/reinit

all: build

build:
	RUSTFLAGS="$(STATIC)" $(CARGO) build --release --locked --target $(HOST)
	@file $(BIN) 2>/dev/null || true

# Tests run the static binary as PID 1 inside a chroot, so they are built static too.
test: test-unit test-vm

test-unit:
	RUSTFLAGS="$(STATIC)" $(CARGO) test --locked --target $(HOST) -- --test-threads=4

test-vm: build
	bash tests/vm/build.sh
	bash tests/vm/test.sh

lint:
	$(CARGO) fmt --all -- --check
	RUSTFLAGS="$(STATIC)" $(CARGO) clippy --locked --target $(HOST) --all-targets -- -D warnings

check: lint test

install: build
	install -d $(DESTDIR)$(SBINDIR)
	if [ -e $(DESTDIR)$(SBINDIR)/init ]; then cp -p $(DESTDIR)$(SBINDIR)/init $(DESTDIR)$(SBINDIR)/init.bak; fi
	install -m 555 $(BIN) $(DESTDIR)$(SBINDIR)/init.new
	mv -f $(DESTDIR)$(SBINDIR)/init.new $(DESTDIR)$(SBINDIR)/init

freebsd:
	bash .ci/freebsd.sh all

demo:
	bash tests/vm/deps.sh
	$(MAKE) build
	bash tests/vm/build.sh
	bash tests/vm/run.sh demo
	bash tests/vm/check.sh demo

clean:
	$(CARGO) clean

.PHONY: all build test test-unit test-vm lint check install freebsd demo clean
