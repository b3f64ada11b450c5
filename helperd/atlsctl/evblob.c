// SPDX-License-Identifier: Apache-2.0
/*
 * The saved evidence blob of `atlsctl evidence` / `atlsctl check`: a
 * libconfig text file
 *
 *   version = 1; role = "server"; binder = "<hex>"; spki = "<hex>"; cmw = "<hex>";
 *
 * It comes from another machine, so it is hostile input: the text is
 * bounded, every field is type-checked and length-checked, hex must be
 * exact (even length, only hex digits), unknown settings are refused.
 * libatls's appraisal (the same code a handshake uses) then judges the
 * content.  helperd/fuzz/fuzz_blob.c fuzzes this parser and the appraisal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "atlsctl.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Hex string setting -> bytes (malloc'ed), 1..max bytes. */
static int get_hex(config_t *cf, const char *name, size_t max, uint8_t **out, size_t *len)
{
	const char *s;
	size_t n, i;

	if (config_lookup_string(cf, name, &s) != CONFIG_TRUE)
		return -EINVAL;
	n = strlen(s);
	if (!n || n % 2 || n / 2 > max)
		return -EINVAL;
	*out = malloc(n / 2);
	if (!*out)
		return -ENOMEM;
	for (i = 0; i < n / 2; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(*out);
			*out = NULL;
			return -EINVAL;
		}
		(*out)[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return 0;
}

int atlsctl_blob_parse(const char *text, size_t len, struct atlsctl_blob *b, char *err,
		       size_t errlen)
{
	static const char *const keys[] = { "version", "role", "binder", "spki", "cmw", NULL };
	const config_setting_t *root;
	const char *role = "server";
	char *copy;
	config_t cf;
	int ver = 0, i, n, ret = -EINVAL;

	memset(b, 0, sizeof(*b));
	if (len > ATLSCTL_BLOB_MAX || memchr(text, 0, len)) {
		snprintf(err, errlen, "not an evidence blob (size or NUL byte)");
		return -EINVAL;
	}
	copy = strndup(text, len);
	if (!copy)
		return -ENOMEM;
	config_init(&cf);
	if (config_read_string(&cf, copy) != CONFIG_TRUE) {
		snprintf(err, errlen, "line %d: %s", config_error_line(&cf),
			 config_error_text(&cf) ? config_error_text(&cf) : "syntax error");
		goto out;
	}
	root = config_root_setting(&cf);
	n = config_setting_length(root);
	for (i = 0; i < n; i++) {
		const char *name = config_setting_name(config_setting_get_elem(root, i));
		const char *const *k;

		for (k = keys; *k; k++)
			if (name && !strcmp(name, *k))
				break;
		if (!*k) {
			snprintf(err, errlen, "unknown setting \"%.40s\"", name ? name : "?");
			goto out;
		}
	}
	if (config_lookup_int(&cf, "version", &ver) != CONFIG_TRUE || ver != 1) {
		snprintf(err, errlen, "version = 1; is required");
		goto out;
	}
	if (config_setting_get_member(root, "role") &&
	    config_lookup_string(&cf, "role", &role) != CONFIG_TRUE) {
		snprintf(err, errlen, "role must be a string");
		goto out;
	}
	if (strcmp(role, "client") && strcmp(role, "server")) {
		snprintf(err, errlen, "role must be \"client\" or \"server\"");
		goto out;
	}
	b->client = !strcmp(role, "client");
	if (get_hex(&cf, "binder", 64, &b->binder, &b->blen) ||
	    get_hex(&cf, "spki", 1024, &b->spki, &b->slen) ||
	    get_hex(&cf, "cmw", ATLSCTL_CMW_MAX, &b->cmw, &b->clen)) {
		snprintf(err, errlen, "binder, spki and cmw must be hex strings of sane length");
		atlsctl_blob_free(b);
		goto out;
	}
	ret = 0;
out:
	config_destroy(&cf);
	free(copy);
	return ret;
}

void atlsctl_blob_free(struct atlsctl_blob *b)
{
	free(b->binder);
	free(b->spki);
	free(b->cmw);
	memset(b, 0, sizeof(*b));
}
