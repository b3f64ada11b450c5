# SPDX-License-Identifier: Apache-2.0
# Benchmarks (not pass/fail tests: USER_BINS only).  Run with bench/run.sh;
# method and results in Documentation/performance.rst.
#
# atls_bench links libatls and testlib (swtpm, certs, loopback sockets) and
# wraps atls_tpm_call() to count TPM commands.

$(B)/bench/atls_bench: $(B)/bench/atls_bench.o $(TESTLIB) $(LIBATLS)
	$(CC) -o $@ $^ $(PKG_LIBS) -lpthread -Wl,--wrap=atls_tpm_call

USER_BINS += $(B)/bench/atls_bench

# atls_bulk: kTLS (keys from libatls) vs userspace OpenSSL vs sendfile, for
# the test VM (the host kernel has no kTLS); see bench/vm-bulk.sh.
$(B)/bench/atls_bulk: $(B)/bench/atls_bulk.o $(TESTLIB) $(LIBATLS)
	$(CC) -o $@ $^ $(PKG_LIBS) -lpthread

USER_BINS += $(B)/bench/atls_bulk

# atls_e2e: atls.ko + atlsd handshakes, atls-socket bulk and sendfile, and
# kernel memory per attested socket, against OpenSSL in the same VM.
$(B)/bench/atls_e2e: $(B)/bench/atls_e2e.o
	$(CC) -o $@ $^ $(PKG_LIBS) -lpthread

USER_BINS += $(B)/bench/atls_e2e

# atls_aead: raw AES-128-GCM rate, OpenSSL EVP vs the kernel's gcm(aes)
# through AF_ALG (the driver kTLS gets), same process; see vm-guest.sh.
$(B)/bench/atls_aead: $(B)/bench/atls_aead.o
	$(CC) -o $@ $^ $(PKG_LIBS)

USER_BINS += $(B)/bench/atls_aead
