# SPDX-License-Identifier: Apache-2.0
# helperd: the atls helper daemon (atlsd) and its admin tool (atlsctl).
#
# Conventions (no edits needed to add files):
#   helperd/atlsd/*.c     -> $(B)/helperd/atlsd     (the daemon)
#   helperd/atlsctl/*.c   -> $(B)/helperd/atlsctl   (the admin tool)
#   helperd/common/*.c    -> linked into both, the host tests and the fuzz targets
# Objects go to $(B)/helperd/obj/ (the programs keep their paths in $(B)/helperd/).
HELPERD_OBJ := $(B)/helperd/obj
helperd_objs = $(patsubst $(SRC)/helperd/%.c,$(HELPERD_OBJ)/%.o,\
	$(sort $(wildcard $(SRC)/helperd/$(1)/*.c)))
HELPERD_COMMON_OBJS := $(call helperd_objs,common)
ATLSD_OBJS := $(call helperd_objs,atlsd) $(HELPERD_COMMON_OBJS)
ATLSCTL_OBJS := $(call helperd_objs,atlsctl) $(HELPERD_COMMON_OBJS)

$(HELPERD_OBJ)/%.o: $(SRC)/helperd/%.c | $(KSFT)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_USER) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(ATLSD): $(ATLSD_OBJS) $(LIBATLS)
	$(CC) -o $@ $^ $(PKG_LIBS) -lpthread

$(ATLSCTL): $(ATLSCTL_OBJS) $(LIBATLS)
	$(CC) -o $@ $^ $(PKG_LIBS) -lpthread

USER_BINS += $(ATLSD) $(ATLSCTL)

# Host tests: helperd/tests/<name>_test.c -> $(B)/helperd/tests/<name>_test.
HELPERD_TESTS := $(patsubst $(SRC)/%.c,$(B)/%,$(sort $(wildcard $(SRC)/helperd/tests/*_test.c)))
$(HELPERD_TESTS): %: %.o $(HELPERD_COMMON_OBJS) $(TESTLIB) $(LIBATLS) \
		| $(ATLSCTL)
	$(CC) -o $@ $^ $(PKG_LIBS) -lpthread
HOST_TESTS += $(HELPERD_TESTS)

# libFuzzer targets: helperd/fuzz/fuzz_*.c -> $(B)/helperd/fuzz/fuzz_*, built like
# libatls's (FUZZ_CC/FUZZ_CFLAGS of libatls/fuzz/build.mk, libatls compiled with
# clang + ASan there); fuzz_check runs each one briefly in `make check`.
HELPERD_FUZZ_BINS := $(patsubst $(SRC)/helperd/fuzz/%.c,$(B)/helperd/fuzz/%,\
	$(sort $(wildcard $(SRC)/helperd/fuzz/fuzz_*.c)))
HELPERD_FUZZ_OBJS := $(addprefix $(B)/helperd/fuzz/obj/,common/config.o common/log.o \
	atlsctl/evblob.o)
HELPERD_FUZZ_LIBATLS := $(patsubst $(SRC)/libatls/src/%.c,$(B)/libatls/fuzz/obj/%.o,\
	$(sort $(wildcard $(SRC)/libatls/src/*.c)))

$(HELPERD_FUZZ_OBJS): $(B)/helperd/fuzz/obj/%.o: $(SRC)/helperd/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(HELPERD_FUZZ_BINS): $(B)/helperd/fuzz/%: $(SRC)/helperd/fuzz/%.c $(HELPERD_FUZZ_OBJS) \
		$(HELPERD_FUZZ_LIBATLS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS) \
		-o $@ $< $(HELPERD_FUZZ_OBJS) $(HELPERD_FUZZ_LIBATLS) $(PKG_LIBS) -lpthread

$(B)/helperd/fuzz/fuzz_check: $(SRC)/libatls/fuzz/fuzz_check.sh $(HELPERD_FUZZ_BINS)
	@mkdir -p $(dir $@)
	install -m 0755 $< $@

HOST_TESTS += $(if $(HELPERD_FUZZ_BINS),$(B)/helperd/fuzz/fuzz_check)
