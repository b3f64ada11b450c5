# SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
# testlib: the one test-support library (static archive $(TESTLIB), named in
# the top Makefile), linked into libatls/tests, helperd/tests, every selftests
# suite and bench/.  Every testlib/*.c is a member; a program pulls in only the
# members it uses.
TESTLIB_OBJS := $(patsubst $(SRC)/%.c,$(B)/%.o,$(sort $(wildcard $(SRC)/testlib/*.c)))

$(TESTLIB): $(TESTLIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^
