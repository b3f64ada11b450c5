/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libatls public API: one attested TLS 1.3 handshake on a connected socket.
 *
 * Usage:
 *
 *	struct atls_config cfg;
 *	struct atls_ctx *ctx;
 *	struct atls_result res;
 *
 *	atls_config_init(&cfg, ATLS_ROLE_CLIENT);
 *	cfg.cert_file = ...; cfg.key_file = ...; cfg.peer_attest = ATLS_PEER_REQUIRED;
 *	err = atls_ctx_new(&cfg, &ctx);          // once per process/configuration
 *	err = atls_handshake(ctx, fd, 5000, &res); // once per connection
 *	... res.tx / res.rx are ready for setsockopt(SOL_TLS, TLS_TX/TLS_RX) ...
 *	atls_result_release(&res);                // wipes the key material
 *	atls_ctx_free(ctx);
 *
 * Errors are negative errno values; every failure of atls_handshake() also fills
 * res.reason (machine readable, enum atls_reason) and res.reason_text (human
 * readable).  After a failure the connection must be closed: libatls has sent
 * a TLS alert where possible and the record layer state is undefined.
 *
 * Nothing is read from the socket past the end of the handshake, no session
 * tickets are issued or accepted and no early data is used, so the record
 * sequence numbers in res.tx / res.rx are 0 (with the exporter binding: the
 * records the attestation exchange used, res.tx_records / rx_records) and
 * the socket can be handed to kTLS (or to the atls kernel module) as is.
 *
 * Lifetimes: a struct atls_ctx is immutable after atls_ctx_new() and may be
 * shared by threads running atls_handshake() concurrently; the struct
 * atls_config passed to atls_ctx_new() is copied (strings included) and may be
 * freed afterwards (a shared TPM handle in cfg->tpm is borrowed, not copied:
 * see <atls/tpm.h> for how long it must stay open).  A struct atls_result belongs to the caller; it holds
 * secrets in tx/rx until atls_result_release().
 */
#ifndef ATLS_ATLS_H
#define ATLS_ATLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/atls.h>
#include <linux/tls.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The attestation vocabulary is the uAPI's (<linux/atls.h>): enum atls_role
 * (ATLS_ROLE_CLIENT, ATLS_ROLE_SERVER), enum atls_evidence (evidence types)
 * and enum atls_reason.  A handshake reports the uAPI reason where one
 * means exactly what happened (ATLS_REASON_PCR_MISMATCH, _AK_UNTRUSTED,
 * _FRESHNESS, _EVIDENCE_MISSING, _LOCAL_TPM, _HANDSHAKE, _TIMEOUT) and one
 * of the finer ATLS_REASON_* at 64 and above otherwise; the kernel never
 * sees those (a helper maps them before DONE).
 */

/* Where the TLS identity (end-entity certificate) key lives. */
enum atls_key_mode {
	ATLS_KEY_TPM = 0,	/* in the TPM; CertificateVerify signed there; evidence = Certify + Quote */
	ATLS_KEY_SOFTWARE = 1,	/* in memory (key_file); evidence = Quote, binder covers the SPKI */
};

/* What this side wants from its peer. */
enum atls_peer_attest {
	ATLS_PEER_NONE = 0,	/* do not ask the peer for evidence */
	ATLS_PEER_OPTIONAL = 1,	/* ask; a peer that declines is accepted (verdict "none") */
	ATLS_PEER_REQUIRED = 2,	/* ask; a peer that declines fails the handshake */
};

/*
 * How the evidence is bound to the connection (Documentation/protocol.rst,
 * Documentation/security.rst).
 */
enum atls_binding {
	/*
	 * In the handshake: evidence in the Certificate message, qualifying
	 * data = the binder over ClientHello..ServerHello and the attester's
	 * SPKI (draft-fossati-seat-early-attestation; binding level 2).
	 */
	ATLS_BINDING_HANDSHAKE = 0,
	/*
	 * After the handshake, before any application byte: evidence in RFC
	 * 9261 Exported Authenticators, qualifying data from the connection's
	 * TLS exporter (draft-fossati-seat-expat; binding level 3).  Negotiated
	 * in the handshake (extension atls_binding); a peer that does not offer
	 * it fails the handshake with -EPROTONOSUPPORT, reason
	 * ATLS_REASON_BINDING_UNSUPPORTED.
	 */
	ATLS_BINDING_EXPORTER = 1,
};

/*
 * EAR trust tier of an appraisal (draft-ietf-rats-ear, ar4si "status"):
 * numeric values are the EAR ones.
 */
enum atls_ear_status {
	ATLS_EAR_NONE = 0,		/* no evidence appraised */
	ATLS_EAR_AFFIRMING = 2,
	ATLS_EAR_WARNING = 32,
	ATLS_EAR_CONTRAINDICATED = 96,
};

/*
 * Stable short name of a reason ("pcr-mismatch"), never NULL ("unknown" for
 * a value outside enum atls_reason).
 */
const char *atls_reason_name(enum atls_reason r);

#define ATLS_SHA256_LEN 32
#define ATLS_MAX_DIGEST_LEN 64

/* What the peer's evidence claims (filled only when the evidence parsed). */
struct atls_claims {
	enum atls_evidence evidence_type;	/* ATLS_EVIDENCE_TPM2_KAT_PAT (key mode
						 * tpm) or ATLS_EVIDENCE_TPM2_PAT */
	uint8_t ak_sha256[ATLS_SHA256_LEN];	/* SHA-256 of the AK public key (DER SPKI) */
	uint16_t pcr_bank;			/* TPM_ALG_ID of the quoted bank (0x000B = SHA-256) */
	uint32_t pcr_mask;			/* bit i set = PCR i quoted */
	uint8_t pcr_digest[ATLS_MAX_DIGEST_LEN];	/* TPMS_QUOTE_INFO.pcrDigest */
	uint16_t pcr_digest_len;
};

/* Outcome of appraising the peer's evidence against the policy (EAR-like). */
struct atls_appraisal {
	enum atls_ear_status status;
	enum atls_reason reason;
	char text[160];
};

/* kTLS parameters for one direction; which member is valid follows .cipher_type. */
union atls_crypto_info {
	struct tls_crypto_info info;	/* version (TLS_1_3_VERSION) + cipher_type */
	struct tls12_crypto_info_aes_gcm_128 aes_gcm_128;
	struct tls12_crypto_info_aes_gcm_256 aes_gcm_256;
	struct tls12_crypto_info_chacha20_poly1305 chacha20_poly1305;
};

struct atls_tpm;

struct atls_config {
	enum atls_role role;
	enum atls_key_mode key_mode;
	bool attest_self;		/* offer/produce our own evidence when the peer asks */
	enum atls_peer_attest peer_attest;

	/* Identity: PEM files.  In key mode tpm, key_file is unused (tls_key_handle). */
	const char *cert_file;
	const char *key_file;
	/*
	 * Optional PEM CA bundle: if set, the peer's chain must verify against it
	 * (a server then requires a client certificate).  If not set, the peer's
	 * certificate is not checked by PKI: its key is vouched for by the peer's
	 * evidence when attestation is negotiated, and by nothing otherwise.
	 */
	const char *ca_file;
	/*
	 * Client: SNI host name to send (optional); with ca_file it must also
	 * match.  A per-handshake peer name (atls_handshake_ex()) overrides it.
	 */
	const char *server_name;
	/* OpenSSL TLS 1.3 ciphersuite list; NULL = all three kTLS-capable suites. */
	const char *ciphersuites;

	/*
	 * TPM (needed when attest_self or key_mode == ATLS_KEY_TPM).  tpm: an
	 * optional shared handle (<atls/tpm.h>); when set the context uses it
	 * instead of opening its own connection from tcti (tcti is then
	 * ignored).  The handle is borrowed, never closed by libatls: its owner
	 * keeps it open until the last context using it has been freed.
	 */
	struct atls_tpm *tpm;
	const char *tcti;		/* e.g. "device:/dev/tpmrm0", "swtpm:port=2321" */
	uint32_t ak_handle;		/* persistent AK (restricted ECC P-256) */
	uint32_t tls_key_handle;	/* persistent TLS key (key mode tpm) */
	uint16_t pcr_bank;		/* TPM_ALG_ID of the bank to quote */
	uint32_t pcr_mask;		/* PCRs to quote */

	/* Appraisal policy file (needed when peer_attest != ATLS_PEER_NONE). */
	const char *policy_file;

	/*
	 * Batched quotes (Documentation/protocol.rst, "Batched quotes"): offer
	 * and accept the batched evidence scheme.  As attester, the binders of
	 * handshakes that arrive while a batch is open share one quote (at
	 * most batch_max of them): a batch collects while the TPM is busy,
	 * and otherwise until every handshake in progress has its binder in
	 * or about as long as handshakes take to get there (measured), never
	 * past half of a handshake's remaining time nor longer than
	 * batch_window_us after its first binder (0 = 1000000 us; batch_max
	 * 0 = 64).
	 * A peer that does not offer the scheme gets a quote per handshake as
	 * before.
	 */
	bool batch;
	uint32_t batch_window_us;
	uint32_t batch_max;

	/*
	 * Binding of the evidence (enum atls_binding; default HANDSHAKE).
	 * EXPORTER: a client asks for the exporter-bound mode and fails against
	 * a server that does not choose it; a server requires a client that
	 * asks for it.  A server configured HANDSHAKE still accepts a client
	 * that asks for EXPORTER (the stronger binding; same evidence, same
	 * policy).
	 */
	enum atls_binding binding;
};

/* Defaults: given role, key mode tpm, no attestation either way, SHA-256 bank, PCR 0-7. */
void atls_config_init(struct atls_config *cfg, enum atls_role role);

struct atls_ctx;

/* Validate cfg, build the TLS context, open the TPM (unless cfg->tpm is
 * given), load the policy. -errno. */
int atls_ctx_new(const struct atls_config *cfg, struct atls_ctx **out);
void atls_ctx_free(struct atls_ctx *ctx);

/*
 * What ctx's batcher did since it was made (Documentation/protocol.rst,
 * "Batching (attester)"): atlsd shows the sums in `atlsctl counters`.
 * Contexts that borrow one TPM handle (cfg.tpm) and would sign the same
 * evidence share one batcher, made with the first of them and freed with
 * the last, and report its counters alike, with the same `batcher`: a sum
 * over contexts counts each batcher once.  Safe from any thread while
 * handshakes run.  -ENOENT when ctx does not batch its own evidence
 * (cfg.batch off, or attest_self off).
 */
struct atls_batch_counters {
	unsigned long quotes;		/* batched quotes made (one TPM2_Quote each) */
	unsigned long leaves;		/* handshakes that asked for a batched quote */
	unsigned long closed_full;	/* batches closed at batch_max leaves */
	unsigned long closed_all_in;	/* ... with nobody else on the way */
	unsigned long closed_deadline;	/* ... after waiting their longest */
	unsigned long timed_out;	/* handshakes that gave up at their deadline */
	unsigned long abandoned;	/* batches nobody waited for: never quoted */
	unsigned long largest;		/* most leaves one quote covered */
	unsigned long batcher;		/* which batcher (unique in the process, not 0) */
};
int atls_ctx_batch_counters(struct atls_ctx *ctx, struct atls_batch_counters *out);

struct atls_result {
	int err;			/* 0 or the -errno atls_handshake() returned */
	enum atls_reason reason;	/* why it failed (or ATLS_REASON_NONE) */
	/*
	 * ATLS_REASON_PEER_ABORTED when the peer ended the handshake (it sent
	 * an alert, or closed or reset the connection; reason is then
	 * ATLS_REASON_HANDSHAKE), else ATLS_REASON_NONE.
	 */
	enum atls_reason abort_reason;
	char reason_text[256];
	uint8_t alert;			/* TLS alert we sent (0 = none) */

	/* Attestation outcome. */
	bool self_attested;		/* we sent evidence */
	bool peer_attested;		/* the peer sent evidence and it was appraised */
	/* ... as a batched quote (cfg.batch on both sides; protocol.rst). */
	bool self_batched, peer_batched;
	/*
	 * The binding negotiated for this connection (either side's evidence).
	 * With ATLS_BINDING_EXPORTER the exchange after the handshake used
	 * TLS records: tx/rx then carry the record sequence numbers kTLS
	 * starts at (rec_seq, big-endian; tx_records/rx_records the same as
	 * numbers), no longer 0.
	 */
	enum atls_binding binding;
	uint64_t tx_records, rx_records;
	struct atls_appraisal appraisal;	/* of the peer's evidence */
	struct atls_claims peer_claims;

	/*
	 * Binders of this handshake (Documentation/protocol.rst, "Binder"; not
	 * secret; with ATLS_BINDING_EXPORTER the exporter-derived binders of
	 * the Exported Authenticators, "Exporter-bound attestation"): ours (from our certificate) and the peer's (from its certificate),
	 * binder_len bytes each (0 if that side has no certificate).  The qualifying
	 * data of a TPM quote made for this handshake is derived from them.
	 */
	uint8_t binder_self[ATLS_MAX_DIGEST_LEN], binder_peer[ATLS_MAX_DIGEST_LEN];
	uint16_t binder_self_len, binder_peer_len;

	/* TLS outcome. */
	bool have_peer_cert;
	uint8_t peer_cert_sha256[ATLS_SHA256_LEN];	/* of the peer certificate (DER) */
	uint16_t cipher_suite;		/* IANA id, e.g. 0x1301 */
	char cipher_name[48];		/* IANA/RFC name */

	/* kTLS keys (secret until atls_result_release()); rec_seq is 0 unless
	 * binding is ATLS_BINDING_EXPORTER (see tx_records). */
	union atls_crypto_info tx, rx;
	size_t crypto_info_len;		/* optlen for setsockopt(SOL_TLS, TLS_TX/TLS_RX) */

	/*
	 * The application traffic secrets tx and rx were expanded from
	 * (secret until atls_result_release()), secret_len bytes each (the
	 * suite's hash length). A kernel that handles TLS 1.3 KeyUpdate
	 * derives the next keys from them (ATLS_A_SECRET_TX/RX of DONE).
	 */
	uint8_t tx_secret[ATLS_MAX_DIGEST_LEN], rx_secret[ATLS_MAX_DIGEST_LEN];
	size_t secret_len;
};

/*
 * Run the TLS 1.3 handshake as configured on the connected stream socket fd
 * (blocking or not: libatls polls itself), within timeout_ms (<= 0: no limit).
 * The limit covers the handshake's TPM requests too: one still queued behind
 * other work when it passes is given up (-ETIMEDOUT, reason timeout); one the
 * TPM has started is waited for (Documentation/evidence.rst, "The TPM owner").
 * On success returns 0 with res filled; on failure returns -errno with
 * res->err/reason/reason_text/alert filled and no key material.
 *
 * errno vocabulary: -ETIMEDOUT, -ECONNRESET/-EPIPE (peer gone), -EPROTO (TLS
 * failure), -EKEYREJECTED (peer evidence rejected by policy), -EBADMSG
 * (malformed evidence/extension), -EACCES (attestation required, declined),
 * -ENODEV/-EIO (TPM), -EPROTONOSUPPORT (cfg.binding EXPORTER, the peer
 * does not offer it), -ENOMEM, -EINVAL; atls_handshake_ex() also
 * -EKEYREJECTED with reason ATLS_REASON_PEER_NAME_MISMATCH (see below).
 */
int atls_handshake(struct atls_ctx *ctx, int fd, int timeout_ms, struct atls_result *res);

/*
 * Per-handshake options of atls_handshake_ex() (zero-initialise; later
 * versions only append fields).
 *
 * peer_name: the name the caller expects the peer to have (DNS host name or
 * IP address literal, at most 255 printable ASCII characters; NULL or "" =
 * none).  What is checked:
 *  - client: a host name is sent as SNI (an IP literal is not, RFC 6066);
 *    with ca_file configured the server's certificate must match it (DNS
 *    subjectAltName, or the subject CN when the certificate has no DNS
 *    names; IP subjectAltName for an IP literal), checked with the chain;
 *  - server: with ca_file configured the client's certificate must match it
 *    in the same way;
 *  - without ca_file nothing is checked on either side (a self-signed
 *    certificate can claim any name; the peer's identity is then its
 *    attested key): the name is only sent as SNI by a client.
 * A mismatch fails the handshake with -EKEYREJECTED, reason
 * ATLS_REASON_PEER_NAME_MISMATCH and a bad_certificate alert.  An unusable name
 * (too long, not printable, empty label) fails with -EINVAL before anything
 * is sent.  On the client, a peer name replaces cfg.server_name for this
 * handshake.
 */
struct atls_handshake_opts {
	const char *peer_name;
	/*
	 * Step timeout (<= 0: none): the handshake fails with -ETIMEDOUT,
	 * reason timeout, when no byte moves either way for this long, i.e.
	 * when the peer does not send its next flight (or read ours) in time,
	 * however much of timeout_ms is left.  Time spent in our own work
	 * (TPM) does not count: the clock restarts after our flight is written.
	 */
	int step_timeout_ms;
	/*
	 * Server with batched quotes (cfg.batch and attest_self): a ClientHello
	 * that asks for our evidence without offering the batched scheme is
	 * refused (-EKEYREJECTED, reason evidence-type-rejected, alert
	 * handshake_failure) before any TPM work.  Lets the caller bound the
	 * quotes of their own that a peer can cause (atlsd: per remote
	 * address, atls.conf(5) solo-quotes-per-peer).  Ignored otherwise.
	 */
	bool batched_evidence_only;
};

/* atls_handshake() with options (opts may be NULL: same as atls_handshake()). */
int atls_handshake_ex(struct atls_ctx *ctx, int fd, int timeout_ms,
		      const struct atls_handshake_opts *opts, struct atls_result *res);

/* Wipe the key material in res (idempotent). */
void atls_result_release(struct atls_result *res);

#ifdef __cplusplus
}
#endif
#endif /* ATLS_ATLS_H */
