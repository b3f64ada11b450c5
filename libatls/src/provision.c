// SPDX-License-Identifier: Apache-2.0
/*
 * Provisioning (API and templates in include/atls/provision.h).
 *
 * Keys are primary keys of the owner hierarchy created from a fixed template
 * and made persistent with TPM2_EvictControl.  Creating a key runs as one
 * callback on the TPM owner's worker (CreatePrimary, EvictControl, then the
 * transient copy is flushed on every path: there is no resource manager on a
 * raw swtpm or /dev/tpm0 connection).  An existing persistent object is
 * compared with the template and kept when it matches, which makes every
 * function idempotent.
 *
 * Certificates for a TPM key are assembled by hand: the TBSCertificate is
 * built by OpenSSL (first "signed" with a throw-away software key so both
 * signature-algorithm fields read ecdsa-with-SHA256), then the real signature
 * over SHA-256(TBS) is made by the TPM and the final DER is
 * SEQUENCE { TBS, AlgorithmIdentifier, BIT STRING signature }.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atls/provision.h>

#include "tpm_int.h"
#include "tpm_parse.h"

#define ATTR_COMMON (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | \
		     TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH | \
		     TPMA_OBJECT_SIGN_ENCRYPT)

/*
 * What the key secret gives one key: its authorization value and the
 * "unique" input of its template.  SHA-256 over a label naming the purpose
 * and the key, a zero byte and the secret, so the values of the AK and the
 * TLS key and the two uses differ.
 */
static void derive(const uint8_t secret[ATLS_KEY_SECRET_LEN], bool ak, const char *use,
		   uint8_t out[32])
{
	uint8_t buf[64 + ATLS_KEY_SECRET_LEN];
	int n;

	n = snprintf((char *)buf, 64, "atls key secret v1 %s %s", use, ak ? "ak" : "tls-key");
	buf[n] = 0;
	memcpy(buf + n + 1, secret, ATLS_KEY_SECRET_LEN);
	SHA256(buf, n + 1 + ATLS_KEY_SECRET_LEN, out);
	OPENSSL_cleanse(buf, sizeof(buf));
}

/*
 * The template.  With a secret: noDA (a wrong guess is TPM_RC_BAD_AUTH and
 * counts toward no lockout, so nobody can lock atlsd out of its own keys by
 * guessing; the value is 256 bits, guessing is hopeless anyway) and the
 * secret-derived unique field, which makes the key unknown to anyone who
 * cannot read the secret: a primary key is a function of the owner seed and
 * the template, and anyone with TPM access can usually run CreatePrimary in
 * the owner hierarchy.
 */
static void key_template(TPMT_PUBLIC *p, bool restricted, const uint8_t *secret)
{
	memset(p, 0, sizeof(*p));
	p->type = TPM2_ALG_ECC;
	p->nameAlg = TPM2_ALG_SHA256;
	p->objectAttributes = ATTR_COMMON | (restricted ? TPMA_OBJECT_RESTRICTED : 0) |
			      (secret ? TPMA_OBJECT_NODA : 0);
	p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
	p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
	p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
	p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
	p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
	if (secret) {
		derive(secret, restricted, "unique", p->unique.ecc.x.buffer);
		p->unique.ecc.x.size = 32;
	}
}

static bool matches_template(const TPMT_PUBLIC *have, const TPMT_PUBLIC *want)
{
	return have->type == want->type && have->nameAlg == want->nameAlg &&
	       have->objectAttributes == want->objectAttributes &&
	       have->parameters.eccDetail.scheme.scheme == want->parameters.eccDetail.scheme.scheme &&
	       have->parameters.eccDetail.scheme.details.ecdsa.hashAlg ==
		       want->parameters.eccDetail.scheme.details.ecdsa.hashAlg &&
	       have->parameters.eccDetail.curveID == want->parameters.eccDetail.curveID &&
	       have->parameters.eccDetail.symmetric.algorithm == TPM2_ALG_NULL;
}

static bool same_point(const TPMT_PUBLIC *x, const TPMT_PUBLIC *y)
{
	const TPMS_ECC_POINT *a = &x->unique.ecc, *b = &y->unique.ecc;

	return a->x.size == b->x.size && !memcmp(a->x.buffer, b->x.buffer, a->x.size) &&
	       a->y.size == b->y.size && !memcmp(a->y.buffer, b->y.buffer, a->y.size);
}

struct create_args {
	uint32_t handle;
	TPMT_PUBLIC tmpl;
	TPM2B_AUTH auth;
	bool evict_first;	/* replace the (legacy) object at handle */
	bool probe;		/* only create, compare with have, flush */
	const TPMT_PUBLIC *have;
};

/*
 * Worker: CreatePrimary + EvictControl; the transient is always flushed.
 * probe: CreatePrimary only, and 0 if its key is the one in a->have
 * (-ENOKEY if not: the persistent key was made from another secret).
 */
static int do_create_persistent(struct atls_tpm *t, void *arg)
{
	struct create_args *a = arg;
	ESYS_CONTEXT *esys = atls_tpm_esys(t);
	TPM2B_SENSITIVE_CREATE sens = { 0 };
	TPM2B_PUBLIC in = { .publicArea = a->tmpl }, *out = NULL;
	TPM2B_DATA outside = { 0 };
	TPML_PCR_SELECTION pcrs = { 0 };
	ESYS_TR obj = ESYS_TR_NONE, persistent = ESYS_TR_NONE, old = ESYS_TR_NONE;
	int err;

	sens.sensitive.userAuth = a->auth;
	if (a->evict_first) {
		/* A fresh ESYS_TR, not the cached one: EvictControl invalidates it. */
		atls_tpm_forget(t, a->handle);
		err = atls_tpm_rc_errno(Esys_TR_FromTPMPublic(esys, a->handle, ESYS_TR_NONE,
							      ESYS_TR_NONE, ESYS_TR_NONE, &old));
		if (!err)
			err = atls_tpm_rc_errno(Esys_EvictControl(esys, ESYS_TR_RH_OWNER, old,
								  ESYS_TR_PASSWORD, ESYS_TR_NONE,
								  ESYS_TR_NONE, a->handle,
								  &persistent));
		/* ESYS keeps the metadata of the evicted object: drop it, or
		 * the handle cannot be looked up again. */
		if (old != ESYS_TR_NONE)
			Esys_TR_Close(esys, &old);
		if (err)
			goto out_wipe;
	}
	err = atls_tpm_rc_errno(Esys_CreatePrimary(esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD,
						   ESYS_TR_NONE, ESYS_TR_NONE, &sens, &in,
						   &outside, &pcrs, &obj, &out, NULL, NULL,
						   NULL));
	if (err)
		goto out_wipe;
	if (a->probe) {
		err = same_point(&out->publicArea, a->have) ? 0 : -ENOKEY;
		goto out_flush;
	}
	persistent = ESYS_TR_NONE;
	err = atls_tpm_rc_errno(Esys_EvictControl(esys, ESYS_TR_RH_OWNER, obj, ESYS_TR_PASSWORD,
						  ESYS_TR_NONE, ESYS_TR_NONE, a->handle,
						  &persistent));
	if (!err)
		Esys_TR_Close(esys, &persistent);
out_flush:
	Esys_Free(out);
	Esys_FlushContext(esys, obj);
	atls_tpm_forget(t, a->handle);
out_wipe:
	OPENSSL_cleanse(&sens, sizeof(sens));
	return err;
}

/* Worker: is handle a persistent object?  (GetCapability, so that probing
 * for an absent key does not make ESYS log a TPM error.) */
static int do_handle_exists(struct atls_tpm *t, void *arg)
{
	uint32_t handle = *(uint32_t *)arg;
	TPMS_CAPABILITY_DATA *cap = NULL;
	TPMI_YES_NO more;
	int err;

	err = atls_tpm_rc_errno(Esys_GetCapability(atls_tpm_esys(t), ESYS_TR_NONE, ESYS_TR_NONE,
						   ESYS_TR_NONE, TPM2_CAP_HANDLES, handle, 1,
						   &more, &cap));
	if (err)
		return err;
	err = cap->data.handles.count == 1 && cap->data.handles.handle[0] == handle ? 0 : -ENOENT;
	Esys_Free(cap);
	return err;
}

/*
 * What is at handle, for a key of this kind (restricted = AK): 0 = atls's
 * key of this secret's template (protected: noDA, secret-derived; or, with
 * secret NULL, the empty-auth template), -EKEYREVOKED = atls's key of the
 * empty-auth template while a secret is given, -EEXIST = anything else,
 * -ENOENT = nothing.  *have gets its public area.
 */
static int key_state(struct atls_tpm *t, uint32_t handle, bool restricted, const uint8_t *secret,
		     TPM2B_PUBLIC *have)
{
	TPMT_PUBLIC want, legacy;
	int err;

	if ((handle >> 24) != TPM2_HT_PERSISTENT)
		return -EINVAL;
	err = atls_tpm_call(t, do_handle_exists, &handle);
	if (!err)
		err = atls_tpm_read_public(t, handle, have);
	if (err)
		return err;
	key_template(&want, restricted, secret);
	key_template(&legacy, restricted, NULL);
	if (matches_template(&have->publicArea, &want))
		return 0;
	if (secret && matches_template(&have->publicArea, &legacy))
		return -EKEYREVOKED;
	return -EEXIST;
}

static int provision_key(struct atls_tpm *t, uint32_t handle, bool restricted,
			 const uint8_t *secret, unsigned int flags)
{
	struct create_args a = { .handle = handle };
	TPM2B_PUBLIC have;
	int err;

	key_template(&a.tmpl, restricted, secret);
	if (secret) {
		derive(secret, restricted, "auth", a.auth.buffer);
		a.auth.size = 32;
	}
	err = key_state(t, handle, restricted, secret, &have);
	if (!err && secret) {
		/* Same template: made from this secret?  Re-derive and compare. */
		a.probe = true;
		a.have = &have.publicArea;
		err = atls_tpm_call(t, do_create_persistent, &a);
		if (!err)
			err = 1;
	} else if (!err) {
		err = 1;
	} else if (err == -EKEYREVOKED && (flags & ATLS_PROVISION_REPLACE_LEGACY)) {
		a.evict_first = true;
		err = atls_tpm_call(t, do_create_persistent, &a);
	} else if (err == -ENOENT) {
		err = atls_tpm_call(t, do_create_persistent, &a);
	}
	OPENSSL_cleanse(&a.auth, sizeof(a.auth));
	return err;
}

int atls_provision_ak(struct atls_tpm *t, uint32_t handle)
{
	return provision_key(t, handle, true, NULL, 0);
}

int atls_provision_tls_key(struct atls_tpm *t, uint32_t handle)
{
	return provision_key(t, handle, false, NULL, 0);
}

int atls_provision_ak_secret(struct atls_tpm *t, uint32_t handle,
			     const uint8_t secret[ATLS_KEY_SECRET_LEN], unsigned int flags)
{
	if (!secret || (flags & ~ATLS_PROVISION_REPLACE_LEGACY))
		return -EINVAL;
	return provision_key(t, handle, true, secret, flags);
}

int atls_provision_tls_key_secret(struct atls_tpm *t, uint32_t handle,
				  const uint8_t secret[ATLS_KEY_SECRET_LEN], unsigned int flags)
{
	if (!secret || (flags & ~ATLS_PROVISION_REPLACE_LEGACY))
		return -EINVAL;
	return provision_key(t, handle, false, secret, flags);
}

int atls_provision_key_check(struct atls_tpm *t, uint32_t handle, bool ak,
			     const uint8_t secret[ATLS_KEY_SECRET_LEN])
{
	TPM2B_PUBLIC have;

	if (!secret)
		return -EINVAL;
	return key_state(t, handle, ak, secret, &have);
}

int atls_tpm_use_key_secret(struct atls_tpm *t, uint32_t handle, bool ak,
			    const uint8_t secret[ATLS_KEY_SECRET_LEN])
{
	uint8_t auth[32];
	int err;

	if (!secret)
		return -EINVAL;
	derive(secret, ak, "auth", auth);
	err = atls_tpm_set_key_auth(t, handle, auth, sizeof(auth));
	OPENSSL_cleanse(auth, sizeof(auth));
	return err;
}

/* ------------------------------------------------------------ key secret */

int atls_key_secret_create(const char *path, uid_t owner, gid_t group)
{
	uint8_t secret[ATLS_KEY_SECRET_LEN];
	char hex[2 * ATLS_KEY_SECRET_LEN + 2], tmp[4096];
	unsigned int i;
	int fd, err = 0;

	if (!access(path, F_OK) || errno != ENOENT) {
		/* Kept, if it is a good one (and owned as asked). */
		err = atls_key_secret_load(path, secret, NULL, 0);
		OPENSSL_cleanse(secret, sizeof(secret));
		if (err && err != -EPERM)
			return err;
		if (lchown(path, owner, group))
			return -errno;
		err = atls_key_secret_load(path, secret, NULL, 0);
		OPENSSL_cleanse(secret, sizeof(secret));
		return err ? err : 1;
	}
	if (RAND_priv_bytes(secret, sizeof(secret)) != 1)
		return -EIO;
	for (i = 0; i < ATLS_KEY_SECRET_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", secret[i]);
	hex[2 * ATLS_KEY_SECRET_LEN] = '\n';
	OPENSSL_cleanse(secret, sizeof(secret));
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);	/* mode 0600, O_EXCL: never through a planted link */
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	if (fchown(fd, owner, group) || fchmod(fd, 0600) ||
	    write(fd, hex, sizeof(hex) - 1) != (ssize_t)(sizeof(hex) - 1) || fsync(fd))
		err = errno ? -errno : -EIO;
	close(fd);
	/* link(), not rename(): a secret that appeared meanwhile is not replaced. */
	if (!err && link(tmp, path))
		err = -errno;
	unlink(tmp);
out:
	OPENSSL_cleanse(hex, sizeof(hex));
	return err;
}

static int secret_err(char *err, size_t errlen, int rc, const char *path, const char *why)
{
	if (err)
		snprintf(err, errlen, "%s: %s", path, why);
	return rc;
}

int atls_key_secret_load(const char *path, uint8_t secret[ATLS_KEY_SECRET_LEN], char *err,
			 size_t errlen)
{
	char text[2 * ATLS_KEY_SECRET_LEN + 2];
	struct stat st;
	unsigned int i, v;
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		return secret_err(err, errlen, rc, path, rc == -ELOOP ? "is a symbolic link" :
				  strerror(-rc));
	}
	if (fstat(fd, &st)) {
		rc = secret_err(err, errlen, -errno, path, "cannot stat");
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = secret_err(err, errlen, -EINVAL, path, "not a regular file");
		goto out;
	}
	/* Readable by its owner alone (and root), owner = whoever loads it or root. */
	if (st.st_mode & 077) {
		rc = secret_err(err, errlen, -EPERM, path, "group or others have access "
				"(must be mode 0600)");
		goto out;
	}
	if (st.st_uid != geteuid() && geteuid() != 0) {
		rc = secret_err(err, errlen, -EPERM, path, "owned by another user");
		goto out;
	}
	n = read(fd, text, sizeof(text));
	if (n != (ssize_t)sizeof(text) - 1 && n != (ssize_t)sizeof(text) - 2) {
		rc = secret_err(err, errlen, -EINVAL, path, "must hold 64 hex digits");
		goto out;
	}
	if (n == (ssize_t)sizeof(text) - 1 && text[n - 1] != '\n') {
		rc = secret_err(err, errlen, -EINVAL, path, "must hold 64 hex digits");
		goto out;
	}
	for (i = 0; i < ATLS_KEY_SECRET_LEN; i++) {
		if (!strchr("0123456789abcdef", text[2 * i]) || !text[2 * i] ||
		    !strchr("0123456789abcdef", text[2 * i + 1]) || !text[2 * i + 1] ||
		    sscanf(text + 2 * i, "%2x", &v) != 1) {
			rc = secret_err(err, errlen, -EINVAL, path, "must hold 64 hex digits");
			goto out;
		}
		secret[i] = (uint8_t)v;
	}
out:
	if (rc)
		OPENSSL_cleanse(secret, ATLS_KEY_SECRET_LEN);
	OPENSSL_cleanse(text, sizeof(text));
	close(fd);
	return rc;
}

static int tpm_pkey(struct atls_tpm *t, uint32_t handle, EVP_PKEY **out)
{
	TPM2B_PUBLIC pub;
	int err;

	err = atls_tpm_read_public(t, handle, &pub);
	if (err)
		return err;
	return atls_tpm_public_to_pkey(&pub.publicArea, out) ? -EINVAL : 0;
}

/* Write via a temporary file + rename so a reader never sees half a file. */
static int write_pem(const char *path, mode_t mode, int (*wr)(BIO *b, void *arg), void *arg)
{
	char tmp[4096];
	BIO *b;
	int fd, err = 0;
	FILE *f;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode)) {
		err = -errno;
		close(fd);
		goto out_unlink;
	}
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		close(fd);
		goto out_unlink;
	}
	b = BIO_new_fp(f, BIO_CLOSE);
	if (!b) {
		fclose(f);
		err = -ENOMEM;
		goto out_unlink;
	}
	if (!wr(b, arg))
		err = -EIO;
	if (BIO_flush(b) != 1)
		err = -EIO;
	BIO_free(b);
	if (!err && rename(tmp, path))
		err = -errno;
out_unlink:
	if (err)
		unlink(tmp);
	return err;
}

static int wr_pubkey(BIO *b, void *k)
{
	return PEM_write_bio_PUBKEY(b, k);
}

static int wr_privkey(BIO *b, void *k)
{
	return PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
}

static int wr_cert(BIO *b, void *x)
{
	return PEM_write_bio_X509(b, x);
}

int atls_provision_export_pub(struct atls_tpm *t, uint32_t handle, const char *path)
{
	EVP_PKEY *k;
	int err;

	err = tpm_pkey(t, handle, &k);
	if (err)
		return err;
	err = write_pem(path, 0644, wr_pubkey, k);
	EVP_PKEY_free(k);
	return err;
}

int atls_provision_sw_key(const char *path)
{
	EVP_PKEY *k;
	int err;

	if (!access(path, F_OK)) {
		BIO *b = BIO_new_file(path, "r");

		k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
		err = k && EVP_PKEY_is_a(k, "EC") ? 1 : -EEXIST;
		EVP_PKEY_free(k);
		return err;
	}
	k = EVP_EC_gen("P-256");
	if (!k)
		return -ENOMEM;
	err = write_pem(path, 0600, wr_privkey, k);
	EVP_PKEY_free(k);
	return err;
}

/* ---------------------------------------------------------- certificates */

static X509 *cert_template(EVP_PKEY *subject_key, const struct atls_cert_params *cp,
			   X509 *issuer)
{
	unsigned char serial[16];
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	BIGNUM *bn = NULL;
	X509_NAME *name;
	X509 *x;
	static const char *const exts[][2] = {
		{ "basicConstraints", "critical,CA:FALSE" },
		{ "keyUsage", "critical,digitalSignature" },
		{ "extendedKeyUsage", "serverAuth,clientAuth" },
		{ "subjectKeyIdentifier", "hash" },
	};
	unsigned int i;

	x = X509_new();
	if (!x)
		return NULL;
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto err_x;
	serial[0] &= 0x7f;	/* positive */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	name = X509_NAME_new();
	if (!bn || !name || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
	    !X509_set_version(x, 2) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)cp->common_name, -1, -1, 0) ||
	    !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -60) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 86400L * (cp->days ? cp->days : 365)) ||
	    !X509_set_pubkey(x, subject_key)) {
		X509_NAME_free(name);
		goto err_x;
	}
	X509_NAME_free(name);
	BN_free(bn);
	bn = NULL;
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		ext = X509V3_EXT_nconf(NULL, &v3, exts[i][0], exts[i][1]);
		if (!ext || !X509_add_ext(x, ext, -1)) {
			X509_EXTENSION_free(ext);
			goto err_x;
		}
		X509_EXTENSION_free(ext);
	}
	return x;
err_x:
	BN_free(bn);
	X509_free(x);
	return NULL;
}

static int load_ca(const struct atls_cert_params *cp, X509 **ca, EVP_PKEY **cakey)
{
	BIO *b;

	*ca = NULL;
	*cakey = NULL;
	if (!cp->ca_cert_file && !cp->ca_key_file)
		return 0;
	if (!cp->ca_cert_file || !cp->ca_key_file)
		return -EINVAL;
	b = BIO_new_file(cp->ca_cert_file, "r");
	*ca = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	b = BIO_new_file(cp->ca_key_file, "r");
	*cakey = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!*ca || !*cakey || X509_check_private_key(*ca, *cakey) != 1) {
		X509_free(*ca);
		EVP_PKEY_free(*cakey);
		*ca = NULL;
		*cakey = NULL;
		return -EINVAL;
	}
	return 0;
}

/* Replace the signature of x (already carrying ecdsa-with-SHA256 algorithm
 * fields) by one made in the TPM with key_handle. */
static int tpm_resign(struct atls_tpm *t, uint32_t key_handle, X509 **x)
{
	static const unsigned char algid[] = { 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48,
					       0xce, 0x3d, 0x04, 0x03, 0x02 };
	unsigned char *tbs = NULL, *der = NULL, *p, dgst[32], sig[80];
	size_t siglen = sizeof(sig), body, total, hl;
	const unsigned char *cp;
	int tbslen, err;
	X509 *nx;

	tbslen = i2d_re_X509_tbs(*x, &tbs);
	if (tbslen <= 0)
		return -ENOMEM;
	SHA256(tbs, tbslen, dgst);
	err = atls_tpm_sign_digest(t, key_handle, dgst, sizeof(dgst), sig, &siglen);
	if (err)
		goto out_tbs;

	/* BIT STRING: 03 len 00 sig (siglen + 1 < 128), then the outer SEQUENCE. */
	body = tbslen + sizeof(algid) + 2 + 1 + siglen;
	hl = body < 0x80 ? 2 : body < 0x100 ? 3 : 4;
	total = hl + body;
	der = malloc(total);
	err = -ENOMEM;
	if (!der || body > 0xffff)
		goto out_tbs;
	p = der;
	*p++ = 0x30;
	if (hl == 2) {
		*p++ = body;
	} else if (hl == 3) {
		*p++ = 0x81;
		*p++ = body;
	} else {
		*p++ = 0x82;
		*p++ = body >> 8;
		*p++ = body & 0xff;
	}
	memcpy(p, tbs, tbslen);
	p += tbslen;
	memcpy(p, algid, sizeof(algid));
	p += sizeof(algid);
	*p++ = 0x03;
	*p++ = siglen + 1;
	*p++ = 0x00;
	memcpy(p, sig, siglen);

	cp = der;
	nx = d2i_X509(NULL, &cp, total);
	err = -EIO;
	if (!nx || cp != der + total)
		goto out_der;
	X509_free(*x);
	*x = nx;
	err = 0;
out_der:
	free(der);
out_tbs:
	OPENSSL_free(tbs);
	return err;
}

int atls_provision_cert_tpm(struct atls_tpm *t, uint32_t key_handle,
			    const struct atls_cert_params *cp, const char *cert_path)
{
	EVP_PKEY *pub = NULL, *cakey = NULL, *tmp = NULL;
	X509 *ca = NULL, *x = NULL;
	int err;

	if (!cp || !cp->common_name || !cert_path)
		return -EINVAL;
	err = tpm_pkey(t, key_handle, &pub);
	if (err)
		return err;
	err = load_ca(cp, &ca, &cakey);
	if (err)
		goto out_pub;
	err = -ENOMEM;
	x = cert_template(pub, cp, ca);
	if (!x)
		goto out_ca;
	if (ca) {
		if (!X509_sign(x, cakey, EVP_sha256()))
			goto out_x;
	} else {
		/* Placeholder signature sets the algorithm fields; the TPM re-signs. */
		tmp = EVP_EC_gen("P-256");
		if (!tmp || !X509_sign(x, tmp, EVP_sha256()))
			goto out_x;
		err = tpm_resign(t, key_handle, &x);
		if (err)
			goto out_x;
		err = -EIO;
		if (X509_verify(x, pub) != 1)
			goto out_x;
	}
	err = write_pem(cert_path, 0644, wr_cert, x);
out_x:
	X509_free(x);
	EVP_PKEY_free(tmp);
out_ca:
	X509_free(ca);
	EVP_PKEY_free(cakey);
out_pub:
	EVP_PKEY_free(pub);
	return err;
}

int atls_provision_cert_sw(const char *key_file, const struct atls_cert_params *cp,
			   const char *cert_path)
{
	EVP_PKEY *key, *cakey = NULL;
	X509 *ca = NULL, *x;
	BIO *b;
	int err;

	if (!cp || !cp->common_name || !key_file || !cert_path)
		return -EINVAL;
	b = BIO_new_file(key_file, "r");
	key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!key)
		return -ENOENT;
	err = load_ca(cp, &ca, &cakey);
	if (err)
		goto out_key;
	err = -ENOMEM;
	x = cert_template(key, cp, ca);
	if (x && X509_sign(x, ca ? cakey : key, EVP_sha256()))
		err = write_pem(cert_path, 0644, wr_cert, x);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(cakey);
out_key:
	EVP_PKEY_free(key);
	return err;
}
