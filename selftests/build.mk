# SPDX-License-Identifier: GPL-2.0
# The VM suites, by layer.  Registration is by convention: every *_test.c in a
# suite folder is built, linked with testlib (and libatls), and run by
# `make check`; there is no list to edit.
#   selftests/kernel  atls.ko alone, one VM per kernel
#   selftests/daemon  atls.ko + atlsd + atlsctl + the VM's TPM, one VM per kernel
#   selftests/pair    two linked VMs per kernel (role in ATLS_VM_ROLE)
# Each program is $(B)/selftests/<suite>/<name>_test.
suite_tests = $(patsubst $(SRC)/%.c,$(B)/%,$(sort $(wildcard $(SRC)/selftests/$(1)/*_test.c)))
KERNEL_TESTS := $(call suite_tests,kernel)
DAEMON_TESTS := $(call suite_tests,daemon)
PAIR_TESTS := $(call suite_tests,pair)

# Run order, the one place it is written down.  In the one VM: the daemon
# suite, then the kernel suite, each alphabetically, then RUN_LAST.  The
# programs in RUN_LAST unload and reload atls.ko (a failed reload would leave
# the rest of the VM without the module).  The pair runs its suite
# alphabetically in both VMs.
RUN_LAST := $(addprefix $(B)/selftests/kernel/,atls_module_test module_test)

$(KERNEL_TESTS) $(DAEMON_TESTS) $(PAIR_TESTS): %: %.o $(TESTLIB) $(LIBATLS) | $(ATLSD) $(ATLSCTL)
	$(CC) -o $@ $^ $(PKG_LIBS) -lpthread

VM_TESTS += $(filter-out $(RUN_LAST),$(DAEMON_TESTS) $(KERNEL_TESTS)) \
	$(filter $(RUN_LAST),$(DAEMON_TESTS) $(KERNEL_TESTS))
VM2_TESTS += $(PAIR_TESTS)

# The runner's own verdict logic (a script: nothing to build).
HOST_TESTS += $(SRC)/selftests/runner_test.sh
# Documentation/*.rst parse without a docutils warning (a script too).
HOST_TESTS += $(SRC)/selftests/docs_test.sh
