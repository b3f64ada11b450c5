# SPDX-License-Identifier: Apache-2.0
# examples: applications using atls through plain sockets (no TLS library).
$(B)/examples/atls-echo: $(B)/examples/atls-echo.o
	$(CC) -o $@ $^ -lpthread

USER_BINS += $(B)/examples/atls-echo
