// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the atlsd.conf reader (helperd/common/config.c), through a
 * memfd so the real file path is exercised; the named-policy lookup too.
 * Seeds are written to $ATLS_FUZZ_SEED_DIR (libatls/fuzz/fuzz_check.sh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../common/config.h"
#include "../common/log.h"
#include "fuzz.h"

static const char *const seeds[] = {
	"tcti = \"swtpm:port=2321\";\nstate-dir = \"state\";\nrun-dir = \"/run/x\";\n"
	"user = \"atls\";\nkey-mode = \"software\";\nak-handle = 0x81010020;\n"
	"tls-key-handle = 0x81010021;\ncertificate = \"c.pem\";\nkey-file = \"k.pem\";\n"
	"workers = 3;\nlog-level = \"debug\";\n"
	"policies = {\n  strict = { attest = false; verify-peer = \"optional\";\n"
	"    policy-file = \"p/strict.policy\"; ca-file = \"/etc/ca.pem\";\n"
	"    ciphersuites = \"TLS_AES_256_GCM_SHA384\"; pcrs = [ 0, 7, 23 ]; };\n"
	"  default = { verify-peer = \"none\"; };\n};\n",
	"policies = { a = { }; b = { attest = true; }; };\n",
	"policies = { x = { binding = \"exporter\"; batch = true; }; };\n",
};

TL_FUZZ_LIBCONFIG_LEAKS

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	atlsd_log_init("fuzz_conf", 0);
	TL_FUZZ_TEXT_SEEDS(seeds);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct atlsd_config c;
	char path[64], err[256];
	unsigned int i;
	int fd = memfd_create("atlsd.conf", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write(fd, data, size) == (ssize_t)size) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		atlsd_config_defaults(&c);
		if (!atlsd_config_load(&c, path, true, err, sizeof(err)))
			for (i = 0; i < c.n_policies; i++)
				if (atlsd_config_policy(&c, c.policies[i].name) != &c.policies[i])
					abort();	/* names must be unique */
	}
	close(fd);
	return 0;
}
