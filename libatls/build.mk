# SPDX-License-Identifier: Apache-2.0
# libatls: the attested TLS 1.3 engine (static library) and its host tests.
#
# Conventions (no edits needed to add files):
#   libatls/src/*.c            -> $(B)/libatls/libatls.a
#   libatls/tests/*_test.c     -> $(B)/libatls/tests/<name>_test   (HOST_TESTS, TAP)
#   testlib/                   -> $(TESTLIB), linked into every libatls test
#   libatls/fuzz/             -> see libatls/fuzz/build.mk if present

LIBATLS_SRCS := $(sort $(wildcard $(SRC)/libatls/src/*.c))
LIBATLS_OBJS := $(patsubst $(SRC)/%.c,$(B)/%.o,$(LIBATLS_SRCS))

$(LIBATLS): $(LIBATLS_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

LIBATLS_TESTS := $(patsubst $(SRC)/libatls/tests/%.c,$(B)/libatls/tests/%,$(sort $(wildcard $(SRC)/libatls/tests/*_test.c)))

$(B)/libatls/tests/%_test: $(B)/libatls/tests/%_test.o $(TESTLIB) $(LIBATLS)
	$(CC) -o $@ $^ $(PKG_LIBS) -lpthread

HOST_TESTS += $(LIBATLS_TESTS)
USER_BINS += $(if $(LIBATLS_SRCS),$(LIBATLS))

-include $(SRC)/libatls/fuzz/build.mk
