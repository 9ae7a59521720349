# reinit — works with GNU make and FreeBSD's make (no GNU-only functions).
#
#   make            static release binary: target/$(HOST)/release/reinit
#   make test       every test tier that runs on this machine (unit + namespace)
#   make check      fmt + clippy (-D warnings) + test
#   make install    install as $(DESTDIR)$(PREFIX)/sbin/init, keeping the old one as init.bak
#   make freebsd    FreeBSD gate: type-check + link x86_64, type-check aarch64
#   make demo       the VM demo (not yet available)

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
test:
	RUSTFLAGS="$(STATIC)" $(CARGO) test --locked --target $(HOST) -- --test-threads=4

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
	@echo "make demo: the QEMU demo (boot, reroot onto an NBD root) is not implemented yet." >&2
	@exit 2

clean:
	$(CARGO) clean

.PHONY: all build test lint check install freebsd demo clean
