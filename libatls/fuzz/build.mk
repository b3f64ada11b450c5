# SPDX-License-Identifier: Apache-2.0
# libFuzzer targets: every libatls/fuzz/fuzz_*.c becomes $(B)/libatls/fuzz/fuzz_<name>,
# built with clang -fsanitize=fuzzer,address against the libatls sources (compiled
# again with clang + ASan into $(B)/libatls/fuzz/obj/).  fuzz_check (registered in
# HOST_TESTS) runs each target ATLS_FUZZ_SECONDS (default 10) and prints TAP.
# Longer runs: Documentation/protocol.rst, "Fuzzing".

FUZZ_CC ?= clang
FUZZ_CFLAGS := -std=gnu11 -g -O1 -Wall -Wextra -Werror -D_GNU_SOURCE \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
	-I$(SRC)/include -I$(SRC)/include/uapi -I$(SRC)/libatls/include -I$(SRC)/testlib
FUZZ_SRCS := $(sort $(wildcard $(SRC)/libatls/fuzz/fuzz_*.c))
FUZZ_BINS := $(patsubst $(SRC)/libatls/fuzz/%.c,$(B)/libatls/fuzz/%,$(FUZZ_SRCS))
FUZZ_LIB_OBJS := $(patsubst $(SRC)/libatls/src/%.c,$(B)/libatls/fuzz/obj/%.o,$(LIBATLS_SRCS))
FUZZ_CHECK := $(B)/libatls/fuzz/fuzz_check

$(FUZZ_LIB_OBJS): $(B)/libatls/fuzz/obj/%.o: $(SRC)/libatls/src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_BINS): $(B)/libatls/fuzz/%: $(SRC)/libatls/fuzz/%.c $(FUZZ_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS) \
		-o $@ $< $(FUZZ_LIB_OBJS) $(PKG_LIBS) -lpthread

$(FUZZ_CHECK): $(SRC)/libatls/fuzz/fuzz_check.sh $(FUZZ_BINS)
	@mkdir -p $(dir $@)
	install -m 0755 $< $@

HOST_TESTS += $(if $(FUZZ_BINS),$(FUZZ_CHECK))
