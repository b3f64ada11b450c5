# SPDX-License-Identifier: Apache-2.0
# atls-run: the launcher and its LD_PRELOAD library (Documentation/atls-run.1.rst).
# The library is position-independent code of its own (run/*.pic.o).
RUN_PIC_CFLAGS := $(CFLAGS_USER) -fPIC -fvisibility=default

$(B)/run/%.pic.o: $(SRC)/run/%.c | $(KSFT)
	@mkdir -p $(dir $@)
	$(CC) $(RUN_PIC_CFLAGS) -MMD -MP -c -o $@ $<

$(B)/run/libatls-run.so: $(B)/run/preload.pic.o $(B)/run/rules.pic.o
	$(CC) -shared -Wl,-z,now -o $@ $^ -ldl

$(B)/run/atls-run: $(B)/run/atls-run.o $(B)/run/rules.o | $(B)/run/libatls-run.so
	$(CC) -o $@ $^

USER_BINS += $(B)/run/atls-run $(B)/run/libatls-run.so

# Host test: the rules parser and what the launcher refuses (no atls.ko).
$(B)/run/tests/atls_run_test: $(B)/run/tests/atls_run_test.o $(B)/run/rules.o $(TESTLIB) | \
		$(B)/run/atls-run $(B)/run/libatls-run.so
	$(CC) -o $@ $^

HOST_TESTS += $(B)/run/tests/atls_run_test
