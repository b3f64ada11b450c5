# SPDX-License-Identifier: GPL-2.0
# Foundation tests: the VM pipeline itself (module load, kTLS, TPM, two-VM link).
FOUNDATION_VM := $(addprefix $(B)/selftests/foundation/,module_test ktls_test tpm_quote_test)
FOUNDATION_VM2 := $(B)/selftests/foundation/link_test

$(FOUNDATION_VM) $(FOUNDATION_VM2): %: %.o
	$(CC) -o $@ $^ $(PKG_LIBS) -lpthread

# kTLS test: fixed keys and the userspace AEAD come from the kmod test helpers.
$(B)/selftests/foundation/ktls_test: $(B)/selftests/kmod/kutil.o

VM_TESTS += $(FOUNDATION_VM)
VM2_TESTS += $(FOUNDATION_VM2)

# The runner's own verdict logic (a script: nothing to build).
HOST_TESTS += $(SRC)/selftests/foundation/runner_test.sh
