# SPDX-License-Identifier: GPL-2.0
# atls.ko tests (run in the VM on every kernel): selftests/kmod/*_test.c, each
# linked with the shared helpers in kutil.c (genl test helper, fixed keys,
# userspace AEAD).
KMOD_TEST_UTIL := $(B)/selftests/kmod/kutil.o
KMOD_TESTS_ALL := $(patsubst $(SRC)/selftests/kmod/%.c,$(B)/selftests/kmod/%,$(sort $(wildcard $(SRC)/selftests/kmod/*_test.c)))
# Registered in VM_TESTS (all pass on 6.1 and 6.12); the module test unloads
# and reloads atls.ko, so it runs last.
KMOD_VM_TESTS := $(addprefix $(B)/selftests/kmod/atls_,$(addsuffix _test,\
	sockopt gate lifecycle genl record scale module))

$(KMOD_TESTS_ALL): %: %.o $(KMOD_TEST_UTIL)
	$(CC) -o $@ $^ $(PKG_LIBS) -lpthread

VM_TESTS += $(KMOD_VM_TESTS)
USER_BINS += $(KMOD_TESTS_ALL)
