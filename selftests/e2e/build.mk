# SPDX-License-Identifier: GPL-2.0
# End-to-end tests: real atls.ko + atlsd + atlsctl + swtpm, two VMs.
# selftests/e2e/*_test.c -> $(B)/selftests/e2e/<name>_test, linked with e2e.c.
# They need atlsd and atlsctl built (they exec them from ATLS_BUILD).
E2E_TESTS := $(patsubst $(SRC)/%.c,$(B)/%,$(sort $(wildcard $(SRC)/selftests/e2e/*_test.c)))

$(E2E_TESTS): %: %.o $(B)/selftests/e2e/e2e.o | $(B)/helperd/atlsd $(B)/helperd/atlsctl
	$(CC) -o $@ $^ $(PKG_LIBS) -lpthread

# local_test runs in one VM (VM_TESTS); the others need the pair (VM2_TESTS).
E2E_LOCAL := $(filter %/local_test,$(E2E_TESTS))
VM_TESTS += $(E2E_LOCAL)
VM2_TESTS += $(filter-out $(E2E_LOCAL),$(E2E_TESTS))
