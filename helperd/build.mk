# SPDX-License-Identifier: Apache-2.0
# helperd: the atls helper daemon (atlsd) and its admin tool (atlsctl).
ATLSD_OBJS := $(addprefix $(B)/helperd/,main.o netlink.o worker.o handshake.o config.o \
	log.o control.o privdrop.o)
ATLSCTL_OBJS := $(addprefix $(B)/helperd/,atlsctl.o atlsctl_trust.o config.o log.o)

$(B)/helperd/atlsd: $(ATLSD_OBJS) $(B)/libatls/libatls.a
	$(CC) -o $@ $^ $(PKG_LIBS) -lpthread

$(B)/helperd/atlsctl: $(ATLSCTL_OBJS) $(B)/libatls/libatls.a
	$(CC) -o $@ $^ $(PKG_LIBS) -lpthread

USER_BINS += $(B)/helperd/atlsd $(B)/helperd/atlsctl

# Host tests: helperd/tests/<name>_test.c -> $(B)/helperd/tests/<name>_test.
HELPERD_TESTS := $(patsubst $(SRC)/%.c,$(B)/%,$(sort $(wildcard $(SRC)/helperd/tests/*_test.c)))
$(HELPERD_TESTS): %: %.o $(B)/helperd/config.o $(B)/helperd/log.o $(B)/libatls/libatls.a \
		| $(B)/helperd/atlsctl
	$(CC) -o $@ $^ $(PKG_LIBS) -lpthread
HOST_TESTS += $(HELPERD_TESTS)
