/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal interfaces of the TLS half of libatls (handshake, extension,
 * binder, keys, result mapping) and the seam to the evidence half.
 *
 * Objects:
 *  - struct atls_ctx: built once by atls_ctx_new() from a struct atls_config;
 *    owns the SSL_CTX, the TPM handle (unless borrowed: cfg.tpm) and the policy.  Immutable afterwards,
 *    shared by concurrent handshakes.
 *  - struct atls_conn: one per atls_handshake() call, on its stack; reached
 *    from OpenSSL callbacks through SSL ex_data.  Only the thread running
 *    that handshake touches it, so it needs no lock.  It holds the captured
 *    transcript, negotiation state, the traffic secrets (wiped in
 *    atls_conn_cleanup()) and the first failure recorded.
 */
#ifndef ATLS_INTERNAL_H
#define ATLS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include <atls/atls.h>
#include <atls/wire.h>

#include "buf.h"

#define ATLS_MAX_HASH 48	/* SHA-384, the largest TLS 1.3 handshake hash we use */

struct atls_tpm;
struct atls_policy;

struct atls_ctx {
	struct atls_config cfg;		/* strings point into the copies below */
	char *strs[8];			/* owned copies of cfg's strings */
	SSL_CTX *ssl_ctx;
	struct atls_tpm *tpm;		/* NULL unless attest_self or key mode tpm */
	bool tpm_owned;			/* we opened tpm (else borrowed from cfg.tpm) */
	struct atls_policy *policy;	/* NULL unless peer_attest != NONE */
	EVP_PKEY *tpm_pkey;		/* key mode tpm: EVP_PKEY signing through the TPM */
	/* batch.h: cfg.batch && attest_self; one reference on a batcher shared
	 * with the contexts on tpm that sign the same evidence (own lock) */
	struct atls_batcher *batcher;
	struct atls_batch_cache *batch_cache;	/* batch.h: cfg.batch && policy (own lock) */
};

struct atls_conn {
	const struct atls_ctx *ctx;
	SSL *ssl;
	struct atls_result *res;
	const char *peer_name;		/* expected peer name (caller's string) or NULL */
	bool batch_only;		/* opts->batched_evidence_only (negotiate.c) */

	/* Transcript CH..SH (binder.c): raw handshake messages with headers. */
	struct atls_buf th_msgs;
	bool th_done;			/* the real ServerHello has been captured */
	bool th_overflow;

	/* Negotiation (negotiate.c). */
	bool ch_seen;			/* server: ClientHello extension parsed */
	bool peer_asks_us;		/* server: CH lists our scheme in server_attester_schemes */
	bool peer_asks_us_other;	/* server: CH server list non-empty but no scheme of ours */
	bool peer_offers;		/* server: CH lists our scheme in client_attester_schemes */
	bool self_chosen;		/* we announced (EE) / were asked (CR) to attest */
	bool peer_chosen;		/* peer announced (EE) / we asked (CR) */
	bool peer_evidence_seen;	/* Certificate entry 0 carried evidence */
	bool self_batch, peer_batch;	/* the chosen scheme is ATLS_MT_TPM_BATCH */
	/*
	 * Exporter-bound mode (expat.c): negotiated through ATLS_EXT_BINDING
	 * (server: the ClientHello asked for it; client: EncryptedExtensions
	 * chose it).  Evidence then moves out of the Certificate message into
	 * the exchange after the handshake.
	 */
	bool expat;
	/* The exporter binders of that exchange (result's binder_self/peer). */
	uint8_t ea_binder_self[ATLS_MAX_HASH], ea_binder_peer[ATLS_MAX_HASH];
	size_t ea_binder_self_len, ea_binder_peer_len;

	/*
	 * Records under the application traffic keys (handshake.c's message
	 * callback counts record headers once app_phase is set, i.e. after
	 * SSL_do_handshake() returned): the sequence numbers kTLS starts at.
	 */
	bool app_phase;
	uint64_t tx_recs, rx_recs;
	/* A write of the exchange failed part-way: OpenSSL may have sent part
	 * of a record, so no alert record may follow (handshake.c). */
	bool tx_broken;

	/* Traffic secrets from the key log (keys.c); wiped at cleanup. */
	uint8_t c_secret[ATLS_MAX_HASH], s_secret[ATLS_MAX_HASH];
	size_t c_len, s_len;

	/* Alerts seen by the message callback (0 = none). */
	uint8_t alert_sent, alert_received;

	/* First failure recorded by a callback (result.c). */
	int err;
	enum atls_reason reason;
	enum atls_reason abort_reason;	/* ATLS_REASON_PEER_ABORTED: the peer ended it */
	char text[256];
	uint8_t alert;
};

/* sockbio.c: a BIO on the socket fd that never blocks nor changes its flags. */
BIO *atls_sock_bio_new(int fd);

/* conn.c: ex_data index for struct atls_conn on SSL objects. */
int atls_conn_index(void);
struct atls_conn *atls_conn_of(const SSL *ssl);

/* result.c: record the first failure; later ones are ignored. */
void atls_fail(struct atls_conn *c, int err, enum atls_reason reason, uint8_t alert,
	       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int atls_reason_errno(enum atls_reason r);
uint8_t atls_reason_alert(enum atls_reason r);

/* binder.c */
void atls_transcript_msg_cb(int write_p, int version, int content_type, const void *buf,
			    size_t len, SSL *ssl, void *arg);
int atls_hkdf_expand_label(const EVP_MD *md, const uint8_t *secret, size_t slen,
			   const char *label, const uint8_t *hctx, size_t hctx_len, uint8_t *out,
			   size_t olen);
int atls_transcript_hash(const EVP_MD *md, const uint8_t *msgs, size_t len, uint8_t *th,
			 size_t *th_len);
int atls_binder_compute(const EVP_MD *md, const uint8_t *th, size_t th_len,
			const uint8_t *spki, size_t spki_len, uint8_t *binder, size_t *blen);
int atls_conn_binder(struct atls_conn *c, X509 *cert, uint8_t *binder, size_t *blen,
		     uint8_t **spki, size_t *spki_len);
const EVP_MD *atls_conn_md(struct atls_conn *c);

/* keys.c */
void atls_keylog_cb(const SSL *ssl, const char *line);
int atls_keys_derive(struct atls_conn *c, struct atls_result *res);
/* A fatal alert record under our application traffic key, after the
 * handshake (OpenSSL 3.0 has no call for it); see keys.c.  0 or -errno. */
int atls_keys_send_alert(struct atls_conn *c, int fd, uint8_t alert);

/* ext.c: pure parsers/builders of the extension bodies (fuzzed). */
struct atls_ch_offer {
	bool server_list_present, client_list_present;
	unsigned int n_server, n_client;	/* schemes in each list */
	bool server_tpm, client_tpm;		/* our TPM evidence scheme offered */
	bool server_batch, client_batch;	/* ATLS_MT_TPM_BATCH offered */
};
int atls_ext_parse_ch(const uint8_t *in, size_t len, struct atls_ch_offer *out);
/* One scheme (EE, CR): 1 = our TPM scheme, 2 = ATLS_MT_TPM_BATCH, 0 = other
 * valid scheme, -EBADMSG. */
int atls_ext_parse_chosen(const uint8_t *in, size_t len);
/* Certificate entry: u24 length || CMW; sets *cmw into in. */
int atls_ext_parse_cert(const uint8_t *in, size_t len, const uint8_t **cmw, size_t *cmw_len);
/* Builders: malloc'ed output. */
int atls_ext_build_ch(bool ask_server, bool offer_client, uint8_t **out, size_t *len);
int atls_ext_build_scheme(uint8_t **out, size_t *len);
/* With batch: each list offered holds ATLS_MT_TPM_BATCH before our TPM scheme. */
int atls_ext_build_ch_batch(bool ask_server, bool offer_client, bool batch, uint8_t **out,
			    size_t *len);
int atls_ext_build_scheme_batch(uint8_t **out, size_t *len);
int atls_ext_build_cert(const uint8_t *cmw, size_t cmw_len, uint8_t **out, size_t *len);
/* atls_binding extension: CH list (sets *exporter), EE mode (>= 0) or -EBADMSG. */
int atls_ext_parse_binding_ch(const uint8_t *in, size_t len, bool *exporter);
int atls_ext_parse_binding_ee(const uint8_t *in, size_t len);
int atls_ext_build_binding_ch(uint8_t **out, size_t *len);
int atls_ext_build_binding_ee(uint8_t **out, size_t *len);

/*
 * handshake.c: waiting for the socket within a handshake's deadlines (the
 * overall timeout and the step timeout), shared with expat.c.
 */
struct atls_io {
	int fd;
	int timeout_ms, step_ms;		/* <= 0: none */
	long long deadline, step_deadline;	/* now_ms() clock, 0 = none */
	uint64_t moved;				/* bytes seen moving at the last wait */
};
/* 0 once the socket is ready for OpenSSL's want (ssl_err), else c's failure. */
int atls_io_wait(struct atls_conn *c, struct atls_io *io, int ssl_err);
/* The overall deadline for the TPM requests of this thread (tpm.c), 0 = none. */
void atls_io_tpm_deadline(const struct atls_io *io, bool on);

/*
 * expat.c: the attestation exchange in Exported Authenticators on an
 * established connection (negotiated roles: c->self_chosen, c->peer_chosen).
 * A separate step after the handshake; a later re-attestation reuses it.
 */
int atls_expat_exchange(struct atls_conn *c, struct atls_io *io);

/* negotiate.c: registration of the extension and verify hook on an SSL_CTX. */
int atls_negotiate_register(SSL_CTX *sctx, const struct atls_config *cfg);
/* After the handshake: final policy checks (required attestation present). */
int atls_negotiate_finish(struct atls_conn *c);

/* batch.c: handshakes in progress on a batching attester (NULL b: no-op). */
struct atls_batcher;
void atls_batcher_enter(struct atls_batcher *b);
void atls_batcher_peer_wait(struct atls_batcher *b, bool waiting);
void atls_batcher_leave(struct atls_batcher *b);

/* tpmkey.c: an EVP_PKEY for cert's public key whose signatures the TPM makes. */
int atls_tpmkey_load(struct atls_ctx *ctx, X509 *cert, EVP_PKEY **out);
/* attest.c: the seam to the evidence half (evidence.h). */
int atls_attest_ctx_init(struct atls_ctx *ctx);
void atls_attest_ctx_fini(struct atls_ctx *ctx);
int atls_attest_produce(struct atls_conn *c, const uint8_t *binder, size_t blen,
			uint8_t **cmw, size_t *cmw_len);
int atls_attest_appraise(struct atls_conn *c, const uint8_t *cmw, size_t len,
			 const uint8_t *binder, size_t blen, const uint8_t *spki, size_t spki_len);

#endif /* ATLS_INTERNAL_H */
