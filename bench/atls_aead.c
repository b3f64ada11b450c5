// SPDX-License-Identifier: Apache-2.0
/*
 * atls_aead: the raw AES-128-GCM rate of the two implementations the bulk
 * benchmark compares, with no TLS and no TCP around them, in the same
 * process and run: OpenSSL's EVP (what SSL_write/SSL_read use) and the
 * kernel's "gcm(aes)" AEAD through AF_ALG (the same crypto API lookup kTLS
 * does, so the same driver: the one of highest priority registered at the
 * time).  Encrypt only, 16 KiB buffers (one full TLS record), 13 bytes of
 * associated data (a TLS 1.3 record header) and a 16-byte tag, for about a
 * second each.  The AF_ALG figure includes one copy in and one copy out per
 * buffer through the socket, so it is a lower bound of the in-kernel rate.
 * Not a test: prints TAP with the numbers as comments.
 *
 * usage: atls_aead [seconds]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_alg.h>
#include <openssl/evp.h>

#include "util.h"

#ifndef SOL_ALG
#define SOL_ALG 279
#endif

#define BUF (16 * 1024)
#define AAD 13
#define TAG 16

/* MB/s of OpenSSL EVP aes-128-gcm encryption, or a negative errno. */
static double evp_rate(double secs)
{
	static uint8_t in[BUF], out[BUF + 16];
	uint8_t key[16] = { 1 }, iv[12] = { 2 }, aad[AAD] = { 0x17, 3, 3 }, tag[TAG];
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	double t0 = tl_now_s(), t;
	size_t bytes = 0;
	int n;

	if (!c)
		return -ENOMEM;
	do {
		if (EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, key, iv) != 1 ||
		    EVP_EncryptUpdate(c, NULL, &n, aad, AAD) != 1 ||
		    EVP_EncryptUpdate(c, out, &n, in, BUF) != 1 ||
		    EVP_EncryptFinal_ex(c, out + n, &n) != 1 ||
		    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG, tag) != 1) {
			EVP_CIPHER_CTX_free(c);
			return -EPROTO;
		}
		iv[11]++;
		bytes += BUF;
		t = tl_now_s() - t0;
	} while (t < secs);
	EVP_CIPHER_CTX_free(c);
	return (double)bytes / 1e6 / t;
}

/* MB/s of the kernel's gcm(aes) through AF_ALG, or a negative errno. */
static double alg_rate(double secs)
{
	struct sockaddr_alg sa = { .salg_family = AF_ALG, .salg_type = "aead",
				   .salg_name = "gcm(aes)" };
	static uint8_t in[AAD + BUF], out[AAD + BUF + TAG];
	uint8_t key[16] = { 1 };
	char cbuf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct af_alg_iv) + 12) +
		  CMSG_SPACE(sizeof(int))];
	double t0, t, rate = -EIO;
	size_t bytes = 0;
	int tfm, op = -1;

	tfm = socket(AF_ALG, SOCK_SEQPACKET, 0);
	if (tfm < 0)
		return -errno;
	if (bind(tfm, (struct sockaddr *)&sa, sizeof(sa)) ||
	    setsockopt(tfm, SOL_ALG, ALG_SET_KEY, key, sizeof(key)) ||
	    setsockopt(tfm, SOL_ALG, ALG_SET_AEAD_AUTHSIZE, NULL, TAG)) {
		rate = -errno;
		goto close_tfm;
	}
	op = accept(tfm, NULL, 0);
	if (op < 0) {
		rate = -errno;
		goto close_tfm;
	}
	t0 = tl_now_s();
	do {
		struct iovec iov = { .iov_base = in, .iov_len = sizeof(in) };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm;
		struct af_alg_iv *aiv;

		memset(cbuf, 0, sizeof(cbuf));
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_ALG;
		cm->cmsg_type = ALG_SET_OP;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		*(int *)CMSG_DATA(cm) = ALG_OP_ENCRYPT;
		cm = CMSG_NXTHDR(&msg, cm);
		cm->cmsg_level = SOL_ALG;
		cm->cmsg_type = ALG_SET_IV;
		cm->cmsg_len = CMSG_LEN(sizeof(*aiv) + 12);
		aiv = (struct af_alg_iv *)CMSG_DATA(cm);
		aiv->ivlen = 12;
		aiv->iv[11] = (uint8_t)bytes;
		cm = CMSG_NXTHDR(&msg, cm);
		cm->cmsg_level = SOL_ALG;
		cm->cmsg_type = ALG_SET_AEAD_ASSOCLEN;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		*(int *)CMSG_DATA(cm) = AAD;
		if (sendmsg(op, &msg, 0) != (ssize_t)sizeof(in) ||
		    read(op, out, sizeof(out)) != (ssize_t)sizeof(out)) {
			rate = -errno;
			goto close_op;
		}
		bytes += BUF;
		t = tl_now_s() - t0;
	} while (t < secs);
	rate = (double)bytes / 1e6 / t;
close_op:
	close(op);
close_tfm:
	close(tfm);
	return rate;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0, e, k;

	printf("TAP version 13\n1..1\n");
	e = evp_rate(secs);
	k = alg_rate(secs);
	printf("# aead aes-128-gcm 16 KiB encrypt: openssl EVP %.2f MB/s, kernel gcm(aes) "
	       "AF_ALG %.2f MB/s (x%.2f)%s%s\n",
	       e > 0 ? e : 0, k > 0 ? k : 0, e > 0 && k > 0 ? k / e : 0,
	       k < 0 ? " AF_ALG error: " : "", k < 0 ? strerror((int)-k) : "");
	printf("%s 1 atls_aead\n", e > 0 && k > 0 ? "ok" : "not ok");
	return !(e > 0 && k > 0);
}
