// SPDX-License-Identifier: Apache-2.0
/*
 * atlsd's one TPM connection, shared by every libatls context of every
 * engine (engine.c).
 *
 * The daemon opens exactly one connection (struct atlsd_tpm, one libatls TPM
 * owner thread) and every context of every engine borrows it through struct
 * atls_config.tpm, so all signatures, certifies and quotes of all policies
 * queue at one owner (Documentation/evidence.rst, "The TPM owner").  libatls
 * requires the handle to outlive every context using it; struct atlsd_tpm is
 * therefore reference counted: main() holds one reference and each engine one,
 * taken in atlsd_engine_new() and dropped after its contexts are freed in the
 * last atlsd_engine_put(), so the connection is closed only after the last
 * context is gone, whichever of main() and a late engine reference (a handshake
 * or warm-up still running) lets go last.  libatls keeps the batchers its
 * contexts share in the handle (one per evidence: batch.c, "Sharing"), so
 * batches form across engines and roles too, and the last context frees
 * them, before the handle is closed.
 *
 * The keys are used with the authorization values derived from the key
 * secret (Documentation/evidence.rst, "Key authorization"), read here once
 * at start: a key left from before key secrets (empty authorization, usable
 * by any process with TPM access) stops the start with the fix in the log.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <atls/provision.h>
#include <atls/tpm.h>
#include "atlsd.h"

struct atlsd_tpm {
	atomic_int refs;
	struct atls_tpm *t;
	char tcti[256];			/* what it was opened with (reload compares) */
};

void atlsd_tpm_get(struct atlsd_tpm *t)
{
	atomic_fetch_add(&t->refs, 1);
}

void atlsd_tpm_put(struct atlsd_tpm *t)
{
	if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	atls_tpm_close(t->t);
	free(t);
}

/* One key: the protected template, then its authorization value. */
static int use_key(const struct atlsd_config *c, struct atls_tpm *t, bool ak,
		   const uint8_t *secret, char *err, size_t errlen)
{
	uint32_t h = ak ? c->ak_handle : c->tls_key_handle;
	const char *what = ak ? "attestation key" : "TLS key";
	int ret;

	ret = atls_provision_key_check(t, h, ak, secret);
	if (ret == -EKEYREVOKED) {
		snprintf(err, errlen, "the %s at 0x%08x has an empty authorization (made by an "
			 "older atlsctl): any process with access to the TPM could use it. Run "
			 "`atlsctl provision --replace-legacy-keys`%s", what, h,
			 ak ? ", then export and trust this host again on its peers (new AK)" : "");
		return ret;
	}
	if (ret) {
		snprintf(err, errlen, "the object at 0x%08x is not an atls %s (%s)", h, what,
			 strerror(-ret));
		return ret;
	}
	ret = atls_tpm_use_key_secret(t, h, ak, secret);
	if (ret)
		snprintf(err, errlen, "%s at 0x%08x: %s", what, h, strerror(-ret));
	return ret;
}

static int use_keys(const struct atlsd_config *c, struct atls_tpm *t, char *err, size_t errlen)
{
	uint8_t secret[ATLS_KEY_SECRET_LEN];
	char why[600];
	int ret;

	ret = atls_key_secret_load(c->key_secret_file, secret, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "key secret %s (run `atlsctl provision`; the file must be "
			 "atlsd's user's, mode 0600)", why);
		return ret;
	}
	ret = use_key(c, t, true, secret, err, errlen);
	if (!ret && c->key_mode == ATLS_KEY_TPM)
		ret = use_key(c, t, false, secret, err, errlen);
	OPENSSL_cleanse(secret, sizeof(secret));
	return ret;
}

int atlsd_tpm_open(const struct atlsd_config *c, struct atlsd_tpm **out, char *err,
		   size_t errlen)
{
	struct atlsd_tpm *t;
	int ret;

	*out = NULL;
	if (access(c->cert_file, R_OK)) {
		snprintf(err, errlen, "no TLS certificate at %s (run `atlsctl provision`)",
			 c->cert_file);
		return -ENOENT;
	}
	if (c->key_mode == ATLS_KEY_SOFTWARE && access(c->key_file, R_OK)) {
		snprintf(err, errlen, "no software TLS key at %s (run `atlsctl provision "
			 "--software`)", c->key_file);
		return -ENOENT;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	atomic_init(&t->refs, 1);
	snprintf(t->tcti, sizeof(t->tcti), "%s", c->tcti);
	ret = atls_tpm_open(c->tcti, &t->t);
	if (ret) {
		snprintf(err, errlen, "cannot open the TPM (%s): %s", c->tcti, strerror(-ret));
		free(t);
		return ret;
	}
	ret = atls_tpm_key_present(t->t, c->ak_handle);
	if (!ret && c->key_mode == ATLS_KEY_TPM)
		ret = atls_tpm_key_present(t->t, c->tls_key_handle);
	if (ret) {
		snprintf(err, errlen, "the TPM has no %s key at its handle (run `atlsctl provision`): %s",
			 "attestation or TLS", strerror(-ret));
		atlsd_tpm_put(t);
		return ret;
	}
	ret = use_keys(c, t->t, err, errlen);
	if (ret) {
		atlsd_tpm_put(t);
		return ret;
	}
	*out = t;
	return 0;
}

const char *atlsd_tpm_tcti(const struct atlsd_tpm *t)
{
	return t->tcti;
}

struct atls_tpm *atlsd_tpm_handle(const struct atlsd_tpm *t)
{
	return t->t;
}
