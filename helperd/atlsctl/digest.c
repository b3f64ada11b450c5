// SPDX-License-Identifier: Apache-2.0
/*
 * The digests atlsctl exports and trusts: SHA-256 of a public key's DER
 * SubjectPublicKeyInfo (an AK's identity in a policy) and the PCR digest of
 * this host's TPM (SHA-256 over the selected SHA-256 PCR values).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <atls/tpm.h>
#include "atlsctl.h"

int atlsctl_load_pubkey(const char *pem_path, EVP_PKEY **out)
{
	FILE *f = fopen(pem_path, "r");

	if (!f)
		return -errno;
	*out = PEM_read_PUBKEY(f, NULL, NULL, NULL);
	fclose(f);
	return *out ? 0 : -EINVAL;
}

int atlsctl_sha256_file_spki(const char *pem_path, uint8_t out[32])
{
	unsigned char *der = NULL;
	EVP_PKEY *k;
	int len, err;

	err = atlsctl_load_pubkey(pem_path, &k);
	if (err)
		return err;
	len = i2d_PUBKEY(k, &der);
	EVP_PKEY_free(k);
	if (len <= 0)
		return -EINVAL;
	SHA256(der, len, out);
	OPENSSL_free(der);
	return 0;
}

int atlsctl_pcr_digest(const char *tcti, uint32_t mask, uint8_t out[32], char *vals_hex,
		       size_t vals_len)
{
	uint8_t v[24][32];
	unsigned int n = 0, i;
	struct atls_tpm *t;
	uint8_t cat[24 * 32];
	size_t off = 0;
	int err;

	err = atls_tpm_open(tcti, &t);
	if (err)
		return err;
	err = atls_tpm_pcr_read(t, mask, v, &n);
	atls_tpm_close(t);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		memcpy(cat + 32 * i, v[i], 32);
		if (vals_hex && off + 68 < vals_len) {
			off += snprintf(vals_hex + off, vals_len - off, "%s\"", i ? ", " : "");
			atlsd_hex(v[i], 32, vals_hex + off);
			off += 64;
			vals_hex[off++] = '"';
			vals_hex[off] = 0;
		}
	}
	SHA256(cat, 32 * n, out);
	return 0;
}
