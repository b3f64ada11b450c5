// SPDX-License-Identifier: Apache-2.0
/*
 * Attesting test sides: swtpm + provisioned keys + certificates + a policy
 * for the peer (see struct atls_test_side in testutil.h).  Provisioning goes
 * through the public provisioning API (atls/provision.h), like atlsd's
 * administrator would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atls/provision.h>
#include "../libatls/src/tpm_int.h"
#include "testutil.h"

int atls_test_side_provision(struct atls_test_side *s, const char *tag)
{
	struct atls_cert_params cp = { .common_name = tag };
	uint32_t ak = ATLS_AK_HANDLE_DEFAULT, tk = ATLS_TLS_KEY_HANDLE_DEFAULT;
	uint8_t v[24][32];
	unsigned int n = 0, i, j;
	struct atls_tpm *t;
	int ret;

	memset(s, 0, sizeof(*s));
	s->dir = atls_test_tmpdir(tag);
	if (!s->dir)
		return -1;
	ret = atls_test_swtpm_start(&s->sw);
	if (ret)
		return ret;
	ret = atls_tpm_open(s->sw.tcti, &t);
	if (ret)
		return ret;
	if ((ret = atls_provision_ak(t, ak)) < 0 || (ret = atls_provision_tls_key(t, tk)) < 0 ||
	    (ret = atls_provision_export_pub(t, ak, atls_test_path(s->dir, "ak.pem"))) ||
	    (ret = atls_provision_cert_tpm(t, tk, &cp, atls_test_path(s->dir, "tpm.pem"))) ||
	    (ret = atls_provision_sw_key(atls_test_path(s->dir, "sw.key"))) < 0 ||
	    (ret = atls_provision_cert_sw(atls_test_path(s->dir, "sw.key"), &cp,
					  atls_test_path(s->dir, "sw.pem"))) ||
	    (ret = atls_tpm_pcr_read(t, 0xff, v, &n))) {
		atls_tpm_close(t);
		return ret < 0 ? ret : -1;
	}
	atls_tpm_close(t);
	s->pcrs[0] = 0;
	for (i = 0; i < n; i++) {
		strcat(s->pcrs, i ? ", \"" : "\"");
		for (j = 0; j < 32; j++)
			sprintf(s->pcrs + strlen(s->pcrs), "%02x", v[i][j]);
		strcat(s->pcrs, "\"");
	}
	return 0;
}

int atls_test_side_policy(struct atls_test_side *self, const struct atls_test_side *peer,
			  const char *require)
{
	FILE *f = fopen(atls_test_path(self->dir, "policy.conf"), "w");

	if (!f)
		return -1;
	fprintf(f,
		"version = 1;\n"
		"trusted-aks = ( { name = \"peer-ak\"; pem-file = \"%s\"; } );\n"
		"pcrs = { bank = \"sha256\"; selection = [ 0, 1, 2, 3, 4, 5, 6, 7 ]; values = [ %s ]; };\n"
		"require = [ %s ];\n"
		"evidence-types = [ \"tpm-kat-pat\", \"tpm-pat\" ];\n",
		atls_test_path(peer->dir, "ak.pem"), peer->pcrs, require);
	return fclose(f);
}

void atls_test_side_free(struct atls_test_side *s)
{
	atls_test_swtpm_stop(&s->sw);
	if (s->dir) {
		atls_test_rmtree(s->dir);
		free(s->dir);
		s->dir = NULL;
	}
}
