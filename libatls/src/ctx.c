// SPDX-License-Identifier: Apache-2.0
/*
 * struct atls_ctx: the configuration turned into an OpenSSL SSL_CTX that can
 * only do what our profile allows.
 *
 *  - TLS 1.3 only, the three suites kTLS handles (or a subset).
 *  - No session tickets (num_tickets 0, SSL_OP_NO_TICKET), no session cache,
 *    no early data: every handshake is a full one, with a Certificate, so an
 *    "attestation required" policy cannot be bypassed by resumption and the
 *    server never writes a record after its Finished.
 *  - read_ahead stays off (OpenSSL's default) so nothing past the handshake
 *    is pulled from the socket; OpenSSL's own kTLS stays off (we hand keys
 *    out instead).
 *  - The key log callback feeds keys.c, the extension and verify hooks
 *    negotiate.c.
 *
 * The context is immutable after atls_ctx_new() and shared by concurrent
 * handshakes; per-connection state lives in struct atls_conn.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>

#include "internal.h"

#define DEFAULT_SUITES "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"

void atls_config_init(struct atls_config *cfg, enum atls_role role)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->role = role;
	cfg->key_mode = ATLS_KEY_TPM;
	cfg->peer_attest = ATLS_PEER_NONE;
	cfg->pcr_bank = 0x000B;	/* TPM_ALG_SHA256 */
	cfg->pcr_mask = 0xff;	/* PCR 0..7 */
}

/* Copy each string of the config into ctx (the caller's may go away). */
static int copy_strings(struct atls_ctx *ctx)
{
	const char **fields[] = {
		&ctx->cfg.cert_file, &ctx->cfg.key_file, &ctx->cfg.ca_file,
		&ctx->cfg.server_name, &ctx->cfg.ciphersuites, &ctx->cfg.tcti,
		&ctx->cfg.policy_file,
	};
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (!*fields[i])
			continue;
		ctx->strs[i] = strdup(*fields[i]);
		if (!ctx->strs[i])
			return -ENOMEM;
		*fields[i] = ctx->strs[i];
	}
	return 0;
}

static int validate(const struct atls_config *cfg)
{
	if (cfg->role != ATLS_ROLE_CLIENT && cfg->role != ATLS_ROLE_SERVER)
		return -EINVAL;
	if (cfg->key_mode != ATLS_KEY_TPM && cfg->key_mode != ATLS_KEY_SOFTWARE)
		return -EINVAL;
	if (cfg->peer_attest > ATLS_PEER_REQUIRED)
		return -EINVAL;
	if (cfg->binding != ATLS_BINDING_HANDSHAKE && cfg->binding != ATLS_BINDING_EXPORTER)
		return -EINVAL;
	/* A server always needs an identity; an attesting side too (the TIK). */
	if ((cfg->role == ATLS_ROLE_SERVER || cfg->attest_self) && !cfg->cert_file)
		return -EINVAL;
	if (cfg->cert_file && cfg->key_mode == ATLS_KEY_SOFTWARE && !cfg->key_file)
		return -EINVAL;
	/* 24 PCRs; the evidence half takes the bank's TPM_ALG_ID as one byte. */
	if (cfg->pcr_mask & ~0xffffffu || cfg->pcr_bank > 0xff)
		return -EINVAL;
	return 0;
}

static int load_identity(struct atls_ctx *ctx)
{
	const struct atls_config *cfg = &ctx->cfg;

	if (!cfg->cert_file)
		return 0;
	if (SSL_CTX_use_certificate_chain_file(ctx->ssl_ctx, cfg->cert_file) != 1)
		return -ENOENT;
	if (cfg->key_mode == ATLS_KEY_TPM) {
		int ret = atls_tpmkey_load(ctx, SSL_CTX_get0_certificate(ctx->ssl_ctx),
					   &ctx->tpm_pkey);

		if (ret)
			return ret;
		if (SSL_CTX_use_PrivateKey(ctx->ssl_ctx, ctx->tpm_pkey) != 1)
			return -EKEYREJECTED;
	} else if (SSL_CTX_use_PrivateKey_file(ctx->ssl_ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
		return -EKEYREJECTED;
	}
	if (SSL_CTX_check_private_key(ctx->ssl_ctx) != 1)
		return -EKEYREJECTED;
	return 0;
}

static int build_ssl_ctx(struct atls_ctx *ctx)
{
	const struct atls_config *cfg = &ctx->cfg;
	SSL_CTX *s;
	int ret;

	s = SSL_CTX_new(cfg->role == ATLS_ROLE_CLIENT ? TLS_client_method() : TLS_server_method());
	if (!s)
		return -ENOMEM;
	ctx->ssl_ctx = s;
	if (SSL_CTX_set_min_proto_version(s, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION) != 1)
		return -EINVAL;
	if (SSL_CTX_set_ciphersuites(s, cfg->ciphersuites ? cfg->ciphersuites : DEFAULT_SUITES) != 1)
		return -EINVAL;
	SSL_CTX_set_options(s, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_clear_options(s, SSL_OP_ENABLE_KTLS);
	if (SSL_CTX_set_num_tickets(s, 0) != 1)
		return -EINVAL;
	SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_max_early_data(s, 0);
	SSL_CTX_set_recv_max_early_data(s, 0);
	SSL_CTX_set_read_ahead(s, 0);
	SSL_CTX_set_keylog_callback(s, atls_keylog_cb);
	if (cfg->ca_file && SSL_CTX_load_verify_locations(s, cfg->ca_file, NULL) != 1)
		return -ENOENT;
	ret = load_identity(ctx);
	if (ret)
		return ret;
	return atls_negotiate_register(s, cfg);
}

int atls_ctx_new(const struct atls_config *cfg, struct atls_ctx **out)
{
	struct atls_ctx *ctx;
	int ret;

	ret = validate(cfg);
	if (ret)
		return ret;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->cfg = *cfg;
	ret = copy_strings(ctx);
	if (ret)
		goto err_free;
	/* TPM and policy first: key mode tpm needs the TPM to load the identity. */
	ret = atls_attest_ctx_init(ctx);
	if (ret)
		goto err_free;
	ret = build_ssl_ctx(ctx);
	if (ret)
		goto err_free;
	ERR_clear_error();
	*out = ctx;
	return 0;

err_free:
	ERR_clear_error();
	atls_ctx_free(ctx);
	return ret;
}

void atls_ctx_free(struct atls_ctx *ctx)
{
	size_t i;

	if (!ctx)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	EVP_PKEY_free(ctx->tpm_pkey);
	atls_attest_ctx_fini(ctx);
	for (i = 0; i < sizeof(ctx->strs) / sizeof(ctx->strs[0]); i++)
		free(ctx->strs[i]);
	free(ctx);
}
