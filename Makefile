# SPDX-License-Identifier: Apache-2.0
#
# atls: one entry point for dependencies, build, tests and the demo.
#
#   make deps      install what is missing (Debian 12, root; idempotent)
#   make           build userspace and atls.ko for every kernel in KVERS
#   make check     deps + build + host tests + VM suites on every kernel
#   make demo      deps + build + the two-VM attested echo demo
#   make demo-nginx  the same VMs: nginx and curl, unmodified, under atls-run
#
# Everything is built out of tree, under $(B) (default ./build).

SRC := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
B ?= $(SRC)/build
export SRC B

# Kernels to build and test for: every Debian kernel whose headers and image are
# installed, unless named explicitly (never `uname -r`: the host kernel is not
# one we can load modules into).
KVERS ?= $(shell $(SRC)/scripts/kvers.sh)
export KVERS

CC ?= cc
PKGS := libssl libcrypto tss2-esys tss2-mu tss2-rc tss2-tctildr libnl-genl-3.0 libcbor libconfig
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS_USER := -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE \
	-fstack-protector-strong -fno-strict-aliasing \
	-I$(SRC)/include -I$(SRC)/include/uapi -I$(SRC)/libatls/include -isystem $(B)/ksft -I$(B)/gen
CFLAGS_USER += $(EXTRA_CFLAGS)

# Build fragments: every <dir>/build.mk (and selftests/build.mk) is included
# below.  A fragment may name another fragment's artefact only through the
# names defined here, never through a variable that fragment sets: make expands
# a rule's prerequisites when it reads the rule, so a name set by a fragment
# read later would be empty.  With this, the order fragments are read in does
# not matter.
LIBATLS := $(B)/libatls/libatls.a
TESTLIB := $(B)/testlib/libtestlib.a
ATLSD := $(B)/helperd/atlsd
ATLSCTL := $(B)/helperd/atlsctl

# Test code (testlib itself, host tests, selftests, benchmarks) includes
# testlib's headers by name.
TESTLIB_USERS := testlib libatls/tests helperd/tests run/tests selftests bench
$(patsubst %,$(B)/%/%.o,$(TESTLIB_USERS)): CFLAGS_USER += -I$(SRC)/testlib

# Test registration (fragments append to these):
#   HOST_TESTS  executables run on the host by `make check`; each prints TAP
#   VM_TESTS    executables run as root inside the VM, once per kernel
#   VM2_TESTS   executables run in both VMs of a two-VM pair (role in ATLS_VM_ROLE)
# The VM suites register by convention (selftests/build.mk): every *_test.c
# in selftests/kernel, selftests/daemon and selftests/pair.
HOST_TESTS :=
VM_TESTS :=
VM2_TESTS :=
USER_BINS :=

.PHONY: all deps userspace modules check check-host check-vm demo demo-nginx clean ksft nlspec
all: userspace modules

deps:
	@$(SRC)/scripts/deps.sh

# kselftest harness headers, from Debian's linux-source package.
KSFT := $(B)/ksft/kselftest_harness.h
$(KSFT):
	@$(SRC)/scripts/ksft-headers.sh $(B)/ksft
ksft: $(KSFT)

# The generic-netlink family comes from one spec, Documentation/netlink/specs/
# atls.yaml (scripts/nlspec.py). Generated at build time: the userspace libnl
# policies ($(B)/gen/atls-nl-user.h) and atls.ko's policies and ops
# (scripts/build-kmod.sh). Checked, failing the build on any drift: the
# generated block of the uAPI header (`make nlspec` rewrites it) and the
# values of the spec's enums in that header.
NLSPEC := $(SRC)/Documentation/netlink/specs/atls.yaml $(SRC)/scripts/nlspec.py
UAPI_H := $(SRC)/include/uapi/linux/atls.h
NLGEN := $(B)/gen/atls-nl-user.h $(B)/gen/uapi.checked $(B)/gen/defs.checked
$(B)/gen/atls-nl-user.h: $(NLSPEC)
	@mkdir -p $(dir $@)
	python3 $(SRC)/scripts/nlspec.py user > $@.tmp && mv $@.tmp $@
$(B)/gen/uapi.checked: $(NLSPEC) $(UAPI_H)
	@mkdir -p $(dir $@)
	python3 $(SRC)/scripts/nlspec.py check-uapi $(UAPI_H) && touch $@
$(B)/gen/defs.checked: $(NLSPEC) $(UAPI_H)
	@mkdir -p $(dir $@)
	python3 $(SRC)/scripts/nlspec.py defs-check > $(B)/gen/defs-check.c
	$(CC) $(CFLAGS_USER) -fsyntax-only $(B)/gen/defs-check.c && touch $@
nlspec:
	python3 $(SRC)/scripts/nlspec.py update-uapi $(UAPI_H)

# Generic compile rule: any source file under $(SRC) to a mirrored object.
$(B)/%.o: $(SRC)/%.c | $(KSFT) $(NLGEN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_USER) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

include $(sort $(wildcard $(SRC)/*/build.mk))

userspace: $(USER_BINS) $(HOST_TESTS) $(VM_TESTS) $(VM2_TESTS)

# atls.ko for each kernel, built with sparse (C=1); sparse warnings fail.
# One target per kernel, so that `make -jN` builds the kernels side by side
# and beside the userspace; "+" makes the recipe a recursive make's, so
# Kbuild's make shares our jobserver (without it each kernel's Kbuild ran
# with -j1: "jobserver unavailable").
KMODS := $(addprefix kmod-,$(KVERS))
.PHONY: $(KMODS)
modules: $(KMODS)
$(KMODS): kmod-%: $(NLGEN)
	+@$(SRC)/scripts/build-kmod.sh "$*"

# Test lists for the runner.
$(B)/tests/host.list $(B)/tests/vm.list $(B)/tests/vm2.list: FORCE
	@mkdir -p $(B)/tests
	@printf '%s\n' $(HOST_TESTS) > $(B)/tests/host.list
	@printf '%s\n' $(VM_TESTS) > $(B)/tests/vm.list
	@printf '%s\n' $(VM2_TESTS) > $(B)/tests/vm2.list
FORCE:

# Keep objects a pattern chain made (a test program from its .o): deleting them
# made every `make` compile them again.  (Not a bare .SECONDARY: that would
# make FORCE intermediate too, and the test lists would never be rewritten.)
.PRECIOUS: $(B)/%.o

TEST_LISTS := $(B)/tests/host.list $(B)/tests/vm.list $(B)/tests/vm2.list

# The test command of README.md.
check: deps
	@$(MAKE) --no-print-directory -j$$(nproc) all $(TEST_LISTS)
	@$(SRC)/selftests/run.sh

check-host: all $(TEST_LISTS)
	@ATLS_ONLY=host $(SRC)/selftests/run.sh
check-vm: all $(TEST_LISTS)
	@ATLS_ONLY=vm $(SRC)/selftests/run.sh

# The demo command of README.md: two VMs, each with its own TPM, attested echo.
demo: deps
	@$(MAKE) --no-print-directory all
	@if [ -x $(SRC)/demo/demo.sh ]; then $(SRC)/demo/demo.sh; \
	 else echo "demo: demo/demo.sh is not there yet (see README.md, Status)" >&2; exit 1; fi

# Debian's nginx and curl, unmodified, under atls-run on the same two VMs.
demo-nginx: deps
	@$(MAKE) --no-print-directory all
	@$(SRC)/demo/demo.sh nginx

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
