# SPDX-License-Identifier: Apache-2.0
# Benchmarks (not pass/fail tests: USER_BINS only).  Run with bench/run.sh;
# method and results in Documentation/performance.rst.
#
# Benchmarks use libatls's public API and testlib only (nothing under
# libatls/src or a tests/ folder).  atls_bench: libatls and testlib (swtpm,
# certs, loopback sockets); TPM commands are counted and slowed through
# <atls/tpm.h> (atls_tpm_stats(), the test seam atls_tpm_set_delay()).

$(B)/bench/atls_bench: $(B)/bench/atls_bench.o $(TESTLIB) $(LIBATLS)
	$(CC) -o $@ $^ $(PKG_LIBS) -lpthread

USER_BINS += $(B)/bench/atls_bench

# atls_bulk: kTLS (keys from libatls) vs userspace OpenSSL vs sendfile, for
# the test VM (the host kernel has no kTLS); see bench/vm-bulk.sh.
$(B)/bench/atls_bulk: $(B)/bench/atls_bulk.o $(TESTLIB) $(LIBATLS)
	$(CC) -o $@ $^ $(PKG_LIBS) -lpthread

USER_BINS += $(B)/bench/atls_bulk

# atls_e2e: atls.ko + atlsd handshakes, atls-socket bulk and sendfile, and
# kernel memory per attested socket, against OpenSSL in the same VM.
$(B)/bench/atls_e2e: $(B)/bench/atls_e2e.o $(TESTLIB)
	$(CC) -o $@ $^ $(PKG_LIBS) -lpthread

USER_BINS += $(B)/bench/atls_e2e

# atls_aead: raw AES-128-GCM rate, OpenSSL EVP vs the kernel's gcm(aes)
# through AF_ALG (the driver kTLS gets), same process; see vm-guest.sh.
$(B)/bench/atls_aead: $(B)/bench/atls_aead.o $(TESTLIB)
	$(CC) -o $@ $^ $(PKG_LIBS)

USER_BINS += $(B)/bench/atls_aead
