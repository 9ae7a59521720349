# reinit — works with GNU make and FreeBSD's make (no GNU-only functions).
#
#   make            static release binary: target/reinit (on Linux built on musl by
#                   .ci/musl.sh; LIBC=gnu builds it on static glibc with rustup's toolchain)
#   make test       every test tier: unit, namespace, VM (needs root and tests/vm/deps.sh)
#   make check      fmt + clippy (-D warnings) + test
#   make install    install as $(DESTDIR)$(PREFIX)/sbin/init, keeping the old one as init.bak,
#                   and the manual page reinit.8 in $(DESTDIR)$(MANDIR)
#   make static-check  the release binary is static (no PT_INTERP); on FreeBSD, for a
#                   FreeBSD binary anywhere, or with FREEBSD=1, also branded FreeBSD (ELF
#                   OS/ABI, and the .note.tag ABI note that sets p_osrel: .ci/abi-note.sh)
#   make man-lint   mandoc -T lint on reinit.8
#   make freebsd    FreeBSD gate: type-check + link x86_64, type-check aarch64
#   make fuzz-smoke every fuzz target of fuzz/ built and run for a few seconds
#   make bench      reinit beside tini, tini-static, catatonit, busybox init and a minimal C
#                   PID 1, each as PID 1 of a namespace: bench/results.json, bench/results.md
#                   (not a test; make bench-smoke runs it once, small, to show it works)
#   make demo       the main job in one command: install what the VM needs, build, boot a VM
#                   whose initramfs reroots onto an NBD root started by /etc/rc.reroot
#   make test-vm    the VM tier alone

CARGO   ?= cargo
PREFIX  ?= /
SBINDIR ?= $(PREFIX)/sbin
MANDIR  ?= /usr/share/man/man8
HOST    != rustc -vV | sed -n 's/^host: //p'
# Static, and not position-independent: no loader, and no self-relocation at each start
# (static-pie relocates itself at every exec; `make bench`: 87 KB smaller, less start-up CPU).
STATIC  = -C target-feature=+crt-static -C relocation-model=static
BIN     = target/reinit
# Linux: musl (0.7 MB; .ci/musl.sh) or gnu (static glibc, 1.7 MB). FreeBSD: its own libc.
LIBC    = musl

all: build

build:
	@if [ "`uname -s`" = Linux ] && [ "$(LIBC)" = musl ]; then \
		bash .ci/musl.sh $(BIN) || exit 1; \
	else \
		REINIT_FREEBSD_VERSION="`uname -U 2>/dev/null`" RUSTFLAGS="$(STATIC)" $(CARGO) build --release --locked --target $(HOST) || exit 1; \
		cp -f target/$(HOST)/release/reinit $(BIN) || exit 1; \
	fi
	@file $(BIN) 2>/dev/null || true
	@$(MAKE) static-check BIN=$(BIN)

# PID 1 is copied into RAM and re-executed at every reroot: it must not need a loader.
static-check:
	@if readelf -l $(BIN) | grep -q 'Requesting program interpreter'; then \
		echo "$(BIN) is dynamically linked (PT_INTERP); build with $(STATIC)"; exit 1; fi
	@if [ "`uname -s`" = FreeBSD ] || [ -n "$(FREEBSD)" ] || readelf -h $(BIN) | grep -q 'OS/ABI:.*FreeBSD'; then \
		readelf -h $(BIN) | grep -q 'OS/ABI:.*FreeBSD' || { echo "$(BIN): ELF OS/ABI is not FreeBSD"; exit 1; }; \
		sh .ci/abi-note.sh $(BIN) || exit 1; \
	fi
	@echo "$(BIN): static, no PT_INTERP"

man-lint:
	mandoc -T lint -W warning reinit.8

# Tests run the static binary as PID 1 inside a chroot, so they are built static too. The
# namespace tier runs the release binary (REINIT_BIN), the one that is installed.
test: test-unit test-unprivileged test-vm

test-unit: build
	REINIT_BIN="`pwd`/$(BIN)" RUSTFLAGS="$(STATIC)" $(CARGO) test --locked --target $(HOST) -- --test-threads=4

# The unit tests again as an ordinary user (nobody): the fake kernel needs no privilege.
test-unprivileged:
	RUSTFLAGS="$(STATIC)" bash tests/unprivileged.sh $(HOST)

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
	install -d $(DESTDIR)$(MANDIR)
	install -m 444 reinit.8 $(DESTDIR)$(MANDIR)/reinit.8

freebsd:
	bash .ci/freebsd.sh all

fuzz-smoke:
	bash .ci/fuzz-smoke.sh

bench: build
	bash bench/deps.sh
	bash tests/vm/deps.sh
	bash tests/vm/build.sh
	python3 bench/bench.py

bench-smoke: build
	bash bench/deps.sh
	bash tests/vm/deps.sh
	bash tests/vm/build.sh
	python3 bench/bench.py --smoke --out target/bench-smoke

demo:
	bash tests/vm/deps.sh
	$(MAKE) build
	bash tests/vm/build.sh
	bash tests/vm/run.sh demo
	bash tests/vm/check.sh demo

clean:
	$(CARGO) clean

.PHONY: all build static-check man-lint test test-unit test-unprivileged test-vm lint check install freebsd fuzz-smoke bench bench-smoke demo clean
