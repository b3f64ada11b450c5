// SPDX-License-Identifier: Apache-2.0
/*
 * Configuration validation, the reason vocabulary, the extension body
 * parsers on hand-written hostile inputs, and CA verification of the peer
 * (chain + host name) on a real handshake.
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "../src/internal.h"
#include <atls/atls.h>

#include "certs.h"
#include "harness.h"
#include "net.h"
#include "peer.h"
#include "util.h"

TL_DIR_FIXTURE(cfg)
{
	ASSERT_EQ(0, tl_make_cert_in(self->dir, "ca", "test-ca", true, NULL));
	ASSERT_EQ(0, tl_make_cert_in(self->dir, "srv", "server.example", false, "ca"));
	ASSERT_EQ(0, tl_make_cert_in(self->dir, "self", "server.example", false, NULL));
}

TEST_F(cfg, invalid_configs_rejected)
{
	struct atls_config c;
	struct atls_ctx *ctx;

	atls_config_init(&c, ATLS_ROLE_SERVER);	/* server without certificate */
	c.key_mode = ATLS_KEY_SOFTWARE;
	EXPECT_EQ(-EINVAL, atls_ctx_new(&c, &ctx));

	c.cert_file = tl_path(self->dir, "srv.pem");	/* software mode, no key */
	EXPECT_EQ(-EINVAL, atls_ctx_new(&c, &ctx));

	c.key_file = tl_path(self->dir, "self.key");	/* key of another cert */
	EXPECT_EQ(-EKEYREJECTED, atls_ctx_new(&c, &ctx));

	c.key_file = tl_path(self->dir, "srv.key");
	c.ciphersuites = "TLS_NO_SUCH_SUITE";
	EXPECT_EQ(-EINVAL, atls_ctx_new(&c, &ctx));

	c.ciphersuites = NULL;
	c.peer_attest = ATLS_PEER_REQUIRED;	/* asking the peer needs a policy */
	EXPECT_EQ(-EINVAL, atls_ctx_new(&c, &ctx));

	c.peer_attest = ATLS_PEER_NONE;
	c.attest_self = true;			/* attesting needs a TPM */
	EXPECT_EQ(-EINVAL, atls_ctx_new(&c, &ctx));

	c.attest_self = false;
	c.role = 7;
	EXPECT_EQ(-EINVAL, atls_ctx_new(&c, &ctx));

	c.role = ATLS_ROLE_SERVER;
	c.cert_file = tl_path(self->dir, "missing.pem");
	EXPECT_EQ(-ENOENT, atls_ctx_new(&c, &ctx));

	c.cert_file = tl_path(self->dir, "srv.pem");
	ASSERT_EQ(0, atls_ctx_new(&c, &ctx));
	atls_ctx_free(ctx);

	/* A plain client with the defaults (key mode tpm, no certificate) needs no TPM. */
	atls_config_init(&c, ATLS_ROLE_CLIENT);
	ASSERT_EQ(0, atls_ctx_new(&c, &ctx));
	atls_ctx_free(ctx);
	/* ... but a TPM-held identity does. */
	c.cert_file = tl_path(self->dir, "srv.pem");
	EXPECT_EQ(-EINVAL, atls_ctx_new(&c, &ctx));
}

TEST(reason_names)
{
	int r;

	for (r = 0; r < __ATLS_REASON_MAX; r++)
		EXPECT_STRNE("unknown", atls_reason_name(r));
	for (r = ATLS_REASON_NO_EVIDENCE; r < __ATLS_REASON_DETAIL_MAX; r++)
		EXPECT_STRNE("unknown", atls_reason_name(r));
	EXPECT_STREQ("unknown", atls_reason_name(__ATLS_REASON_MAX));
	EXPECT_STREQ("unknown", atls_reason_name(__ATLS_REASON_DETAIL_MAX));
	EXPECT_STREQ("pcr-mismatch", atls_reason_name(ATLS_REASON_PCR_MISMATCH));
	EXPECT_EQ(-EKEYREJECTED, atls_reason_errno(ATLS_REASON_FRESHNESS));
	EXPECT_EQ(ATLS_ALERT_ILLEGAL_PARAMETER, atls_reason_alert(ATLS_REASON_WRONG_CERT_ENTRY));
}

TEST(ext_parsers)
{
	struct atls_ch_offer off;
	const uint8_t *cmw;
	uint8_t *b, big[70000];
	size_t n, cl;

	/* Builders round-trip; every strict prefix is malformed. */
	ASSERT_EQ(0, atls_ext_build_ch(true, false, &b, &n));
	EXPECT_EQ(58, n);
	EXPECT_EQ(0, atls_ext_parse_ch(b, n, &off));
	EXPECT_TRUE(off.server_tpm);
	EXPECT_FALSE(off.client_tpm);
	for (cl = 0; cl < n; cl++)
		EXPECT_EQ(-EBADMSG, atls_ext_parse_ch(b, cl, &off));
	free(b);
	ASSERT_EQ(0, atls_ext_build_ch(true, true, &b, &n));
	EXPECT_EQ(112, n);
	b = realloc(b, n + 1);	/* one trailing byte */
	ASSERT_NE(NULL, b);
	b[n] = 0;
	EXPECT_EQ(-EBADMSG, atls_ext_parse_ch(b, n + 1, &off));
	free(b);
	EXPECT_EQ(-EINVAL, atls_ext_build_ch(false, false, &b, &n));
	ASSERT_EQ(0, atls_ext_build_scheme(&b, &n));
	EXPECT_EQ(54, n);
	EXPECT_EQ(1, atls_ext_parse_chosen(b, n));
	for (cl = 0; cl < n; cl++)
		EXPECT_EQ(-EBADMSG, atls_ext_parse_chosen(b, cl));
	b[n - 1] ^= 1;	/* another media type: well-formed, not ours */
	EXPECT_EQ(0, atls_ext_parse_chosen(b, n));
	free(b);
	/* Content-format and result schemes are well-formed, never ours. */
	EXPECT_EQ(0, atls_ext_parse_chosen((const uint8_t *)"\x00\x00\x01\x02", 4));
	EXPECT_EQ(0, atls_ext_parse_chosen((const uint8_t *)"\x01\x00\x01x", 4));
	EXPECT_EQ(-EBADMSG, atls_ext_parse_chosen((const uint8_t *)"\x01\x00\x00", 3));
	EXPECT_EQ(-EBADMSG, atls_ext_parse_chosen((const uint8_t *)"\x02", 1));
	/* More than ATLS_SCHEMES_MAX schemes in a list. */
	memset(big, 0, sizeof(big));
	big[0] = 0;
	big[1] = 4 * (ATLS_SCHEMES_MAX + 1);	/* content-format schemes, 4 bytes each */
	EXPECT_EQ(-EBADMSG, atls_ext_parse_ch(big, 2 + big[1] + 2, &off));
	big[1] = 4 * ATLS_SCHEMES_MAX;
	EXPECT_EQ(0, atls_ext_parse_ch(big, 2 + big[1] + 2, &off));
	/* Certificate entry framing. */
	EXPECT_EQ(0, atls_ext_parse_cert((const uint8_t *)"\x00\x00\x01\xaa", 4, &cmw, &cl));
	EXPECT_EQ(1, cl);
	EXPECT_EQ(-EMSGSIZE, atls_ext_build_cert(big, ATLS_CMW_MAX + 1, &b, &n));
	ASSERT_EQ(0, atls_ext_build_cert(big, ATLS_CMW_MAX, &b, &n));
	EXPECT_EQ(0, atls_ext_parse_cert(b, n, &cmw, &cl));
	EXPECT_EQ(ATLS_CMW_MAX, cl);
	free(b);
	big[0] = 0;
	big[1] = 0xff;	/* u24 = 0xffff > ATLS_CMW_MAX */
	big[2] = 0xff;
	EXPECT_EQ(-EBADMSG, atls_ext_parse_cert(big, 3 + 0xffff, &cmw, &cl));
}

struct peer {
	int fd;
	const char *cert, *key;
};

static int server_main(void *arg)
{
	struct peer *p = arg;
	SSL_CTX *c = tl_peer_ctx(1, NULL, p->cert, p->key);
	SSL *s = c ? SSL_new(c) : NULL;
	int ok = s && tl_peer_handshake(s, p->fd, 1);

	SSL_free(s);
	SSL_CTX_free(c);
	return ok ? 0 : -1;
}

static int client_with_ca(FIXTURE_DATA(cfg) * self, const char *srv_cert, const char *srv_key,
			  const char *name, struct atls_result *res)
{
	struct peer p = { .cert = srv_cert, .key = srv_key };
	struct atls_config c;
	struct atls_ctx *ctx;
	int ret;

	atls_config_init(&c, ATLS_ROLE_CLIENT);
	c.key_mode = ATLS_KEY_SOFTWARE;
	c.ca_file = tl_path(self->dir, "ca.pem");
	c.server_name = name;
	ret = atls_ctx_new(&c, &ctx);
	if (ret)
		return ret;
	ret = tl_handshake_with(ctx, 5000, res, server_main, &p, &p.fd);
	atls_ctx_free(ctx);
	atls_result_release(res);
	return ret;
}

TEST_F(cfg, ca_verification)
{
	struct atls_result res;

	EXPECT_EQ(0, client_with_ca(self, tl_path(self->dir, "srv.pem"),
				    tl_path(self->dir, "srv.key"), "server.example", &res))
		TH_LOG("%s", res.reason_text);
	/* Not issued by the CA. */
	EXPECT_EQ(-EPROTO, client_with_ca(self, tl_path(self->dir, "self.pem"),
					  tl_path(self->dir, "self.key"), "server.example",
					  &res));
	EXPECT_EQ(ATLS_REASON_HANDSHAKE, res.reason);
	/* Issued by the CA, for another name. */
	EXPECT_EQ(-EKEYREJECTED, client_with_ca(self, tl_path(self->dir, "srv.pem"),
						tl_path(self->dir, "srv.key"),
						"other.example", &res));
	EXPECT_EQ(ATLS_REASON_PEER_NAME_MISMATCH, res.reason);
}

TEST_HARNESS_MAIN
