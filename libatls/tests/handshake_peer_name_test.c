// SPDX-License-Identifier: Apache-2.0
/*
 * Per-handshake peer name (atls_handshake_ex(), rules in atls.h): with a CA
 * configured, a client checks the server's certificate and a server checks
 * the client's against the expected name; the right name is accepted, a
 * wrong one is rejected with -EKEYREJECTED and reason peer-name-mismatch.
 * A client sends a host name as SNI (never an IP literal), also without a CA,
 * where no name is checked.  Hostile names are refused before anything is
 * written to the socket.  Real OpenSSL on both sides, real TCP loopback,
 * CA-issued certificates; no attestation (the name check is independent).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include <atls/atls.h>

#include "certs.h"
#include "harness.h"
#include "net.h"
#include "peer.h"
#include "util.h"

TL_DIR_FIXTURE(pn)
{
	ASSERT_EQ(0, tl_make_cert_in(self->dir, "ca", "test-ca", true, NULL));
	ASSERT_EQ(0, tl_make_cert_in(self->dir, "srv", "server.example", false, "ca"));
	ASSERT_EQ(0, tl_make_cert_in(self->dir, "cli", "client.example", false, "ca"));
}

struct side {
	struct atls_ctx *ctx;
	int fd;
	const char *name;
	struct atls_result res;
	int ret;
};

static int server_main(void *arg)
{
	struct side *s = arg;
	struct atls_handshake_opts o = { .peer_name = s->name };

	s->ret = atls_handshake_ex(s->ctx, s->fd, 5000, &o, &s->res);
	/* Unblock a client still waiting for our flight. */
	shutdown(s->fd, SHUT_RDWR);
	return 0;
}

static int make_ctx(FIXTURE_DATA(pn) * self, enum atls_role role, bool ca,
		    const char *server_name, struct atls_ctx **ctx)
{
	struct atls_config c;
	bool srv = role == ATLS_ROLE_SERVER;

	atls_config_init(&c, role);
	c.key_mode = ATLS_KEY_SOFTWARE;
	c.cert_file = tl_path(self->dir, srv ? "srv.pem" : "cli.pem");
	c.key_file = tl_path(self->dir, srv ? "srv.key" : "cli.key");
	c.ca_file = ca ? tl_path(self->dir, "ca.pem") : NULL;
	c.server_name = server_name;
	return atls_ctx_new(&c, ctx);
}

/* One handshake between two libatls contexts; *cli, *srv filled. */
static int pair(FIXTURE_DATA(pn) * self, const char *cfg_name, const char *cli_name,
		const char *srv_name, struct side *cli, struct side *srv)
{
	struct atls_handshake_opts o = { .peer_name = cli_name };
	struct tl_thread th;
	int ret;

	memset(cli, 0, sizeof(*cli));
	memset(srv, 0, sizeof(*srv));
	ret = make_ctx(self, ATLS_ROLE_CLIENT, true, cfg_name, &cli->ctx);
	if (ret)
		return ret;
	ret = make_ctx(self, ATLS_ROLE_SERVER, true, NULL, &srv->ctx);
	if (ret)
		goto out_cli;
	ret = tl_tcp_pair(AF_INET, &cli->fd, &srv->fd);
	if (ret)
		goto out_srv;
	srv->name = srv_name;
	ret = tl_spawn(&th, server_main, srv);
	if (ret)
		goto out_fds;
	cli->ret = atls_handshake_ex(cli->ctx, cli->fd, 5000, &o, &cli->res);
	shutdown(cli->fd, SHUT_RDWR);
	tl_join(&th);
	atls_result_release(&cli->res);
	atls_result_release(&srv->res);
out_fds:
	close(cli->fd);
	close(srv->fd);
out_srv:
	atls_ctx_free(srv->ctx);
out_cli:
	atls_ctx_free(cli->ctx);
	return ret;
}

TEST_F(pn, client_checks_server_name)
{
	struct side c, s;

	ASSERT_EQ(0, pair(self, NULL, "server.example", NULL, &c, &s));
	EXPECT_EQ(0, c.ret) TH_LOG("%s", c.res.reason_text);
	EXPECT_EQ(0, s.ret) TH_LOG("%s", s.res.reason_text);

	ASSERT_EQ(0, pair(self, NULL, "wrong.example", NULL, &c, &s));
	EXPECT_EQ(-EKEYREJECTED, c.ret);
	EXPECT_EQ(ATLS_REASON_PEER_NAME_MISMATCH, c.res.reason);
	EXPECT_STREQ("peer-name-mismatch", atls_reason_name(c.res.reason));
	EXPECT_NE(NULL, strstr(c.res.reason_text, "wrong.example")) TH_LOG("%s", c.res.reason_text);
	EXPECT_NE(0, c.res.alert);	/* bad_certificate sent */
	EXPECT_NE(0, s.ret);

	/* The per-handshake name replaces the configured server_name. */
	ASSERT_EQ(0, pair(self, "wrong.example", "server.example", NULL, &c, &s));
	EXPECT_EQ(0, c.ret) TH_LOG("%s", c.res.reason_text);
	ASSERT_EQ(0, pair(self, "server.example", "wrong.example", NULL, &c, &s));
	EXPECT_EQ(ATLS_REASON_PEER_NAME_MISMATCH, c.res.reason);
	/* Without one, the configured name is still checked. */
	ASSERT_EQ(0, pair(self, "wrong.example", NULL, NULL, &c, &s));
	EXPECT_EQ(ATLS_REASON_PEER_NAME_MISMATCH, c.res.reason);

	/* An IP literal is matched against IP subjectAltNames only (none here). */
	ASSERT_EQ(0, pair(self, NULL, "127.0.0.1", NULL, &c, &s));
	EXPECT_EQ(-EKEYREJECTED, c.ret);
	EXPECT_EQ(ATLS_REASON_PEER_NAME_MISMATCH, c.res.reason);
}

TEST_F(pn, server_checks_client_name)
{
	struct side c, s;

	ASSERT_EQ(0, pair(self, NULL, NULL, "client.example", &c, &s));
	EXPECT_EQ(0, s.ret) TH_LOG("%s", s.res.reason_text);
	EXPECT_EQ(0, c.ret) TH_LOG("%s", c.res.reason_text);

	ASSERT_EQ(0, pair(self, NULL, NULL, "mallory.example", &c, &s));
	EXPECT_EQ(-EKEYREJECTED, s.ret);
	EXPECT_EQ(ATLS_REASON_PEER_NAME_MISMATCH, s.res.reason);
	EXPECT_NE(NULL, strstr(s.res.reason_text, "mallory.example")) TH_LOG("%s", s.res.reason_text);
	/*
	 * c.ret is not checked: in TLS 1.3 the client's handshake is complete
	 * once it has sent its Finished, before the server has judged its
	 * certificate; it learns of the rejection from the alert on its first
	 * read (with atlsd: the connection is reset).
	 */
}

/* A plain OpenSSL server that records the SNI it received. */
struct sni_srv {
	int fd;
	const char *cert, *key;
	char sni[256];
	int ok;
};

static int sni_main(void *arg)
{
	struct sni_srv *p = arg;
	SSL_CTX *c = tl_peer_ctx(1, NULL, p->cert, p->key);
	SSL *s = c ? SSL_new(c) : NULL;
	const char *n;

	p->ok = s && tl_peer_handshake(s, p->fd, 1);
	n = s ? SSL_get_servername(s, TLSEXT_NAMETYPE_host_name) : NULL;
	snprintf(p->sni, sizeof(p->sni), "%s", n ? n : "");
	SSL_free(s);
	SSL_CTX_free(c);
	shutdown(p->fd, SHUT_RDWR);
	return 0;
}

static int client_vs_plain(FIXTURE_DATA(pn) * self, const char *name, struct sni_srv *p,
			   struct atls_result *res)
{
	struct atls_handshake_opts o = { .peer_name = name };
	struct tl_thread th;
	struct atls_ctx *ctx;
	int cfd, ret;

	memset(p, 0, sizeof(*p));
	p->cert = tl_path(self->dir, "srv.pem");
	p->key = tl_path(self->dir, "srv.key");
	/* No CA: no identity needed, nothing checked, SNI still sent. */
	ret = make_ctx(self, ATLS_ROLE_CLIENT, false, NULL, &ctx);
	if (ret)
		return ret;
	if (tl_tcp_pair(AF_INET, &cfd, &p->fd)) {
		atls_ctx_free(ctx);
		return -1;
	}
	tl_spawn(&th, sni_main, p);
	ret = atls_handshake_ex(ctx, cfd, 5000, &o, res);
	shutdown(cfd, SHUT_RDWR);
	tl_join(&th);
	atls_result_release(res);
	close(cfd);
	close(p->fd);
	atls_ctx_free(ctx);
	return ret;
}

TEST_F(pn, sni_without_ca_no_check)
{
	struct atls_result res;
	struct sni_srv p;

	EXPECT_EQ(0, client_vs_plain(self, "server.example", &p, &res)) TH_LOG("%s",
									     res.reason_text);
	EXPECT_EQ(1, p.ok);
	EXPECT_STREQ("server.example", p.sni);
	/* Without a CA the name is not checked (documented): the SNI is sent. */
	EXPECT_EQ(0, client_vs_plain(self, "other.example", &p, &res));
	EXPECT_STREQ("other.example", p.sni);
	/* IP literals are never sent as SNI (RFC 6066). */
	EXPECT_EQ(0, client_vs_plain(self, "127.0.0.1", &p, &res));
	EXPECT_STREQ("", p.sni);
	EXPECT_EQ(0, client_vs_plain(self, "::1", &p, &res));
	EXPECT_STREQ("", p.sni);
	/* An empty name means none. */
	EXPECT_EQ(0, client_vs_plain(self, "", &p, &res));
	EXPECT_STREQ("", p.sni);
}

TEST_F(pn, hostile_names_refused_before_sending)
{
	static const char *const bad[] = {
		"a b", "tab\there", "ctl\x01", "del\x7f", "\xc3\xa9t\xc3\xa9", "a..b", ".lead",
	};
	char longname[300];
	struct atls_result res;
	struct atls_handshake_opts o;
	struct atls_ctx *cctx, *sctx;
	enum atls_role role;
	unsigned int i;
	char buf[8];
	int cfd, sfd;

	memset(longname, 'a', sizeof(longname));
	longname[256] = 0;	/* 256 characters: one too many */
	for (role = ATLS_ROLE_CLIENT; role <= ATLS_ROLE_SERVER; role++) {
		ASSERT_EQ(0, make_ctx(self, role, true, NULL, &cctx));
		for (i = 0; i <= sizeof(bad) / sizeof(bad[0]); i++) {
			o.peer_name = i < sizeof(bad) / sizeof(bad[0]) ? bad[i] : longname;
			ASSERT_EQ(0, tl_tcp_pair(AF_INET, &cfd, &sfd));
			EXPECT_EQ(-EINVAL, atls_handshake_ex(cctx, cfd, 2000, &o, &res))
				TH_LOG("name %u", i);
			EXPECT_EQ(ATLS_REASON_INTERNAL, res.reason);
			close(cfd);
			/* Nothing was written: the other end sees a bare EOF. */
			EXPECT_EQ(0, read(sfd, buf, sizeof(buf))) TH_LOG("name %u", i);
			close(sfd);
		}
		atls_ctx_free(cctx);
	}
	/* 255 characters are fine (checked up to the first flight: no peer). */
	longname[255] = 0;
	ASSERT_EQ(0, make_ctx(self, ATLS_ROLE_CLIENT, true, NULL, &cctx));
	ASSERT_EQ(0, make_ctx(self, ATLS_ROLE_SERVER, true, NULL, &sctx));
	ASSERT_EQ(0, tl_tcp_pair(AF_INET, &cfd, &sfd));
	close(sfd);
	o.peer_name = longname;
	EXPECT_NE(-EINVAL, atls_handshake_ex(cctx, cfd, 2000, &o, &res));
	EXPECT_NE(ATLS_REASON_INTERNAL, res.reason) TH_LOG("%s", res.reason_text);
	close(cfd);
	atls_ctx_free(cctx);
	atls_ctx_free(sctx);
}

TEST_HARNESS_MAIN
