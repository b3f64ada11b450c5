/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Appraisal policy: which attestation keys are trusted, which PCR values are
 * acceptable, which roles must attest and which evidence types are accepted.
 * File format: Documentation/policy.5.rst (libconfig syntax).
 *
 * A loaded policy is immutable and may be shared by any number of threads
 * appraising concurrently; free it once nobody uses it.
 */
#ifndef ATLS_POLICY_H
#define ATLS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <atls/atls.h>

#ifdef __cplusplus
extern "C" {
#endif

struct atls_policy;

/*
 * Load a policy file.  Relative "pem-file" paths are resolved against the
 * directory of path.  On failure returns -errno (-ENOENT, -EACCES: file;
 * -EINVAL: syntax or content) and, if err is not NULL, a message naming the
 * line or setting at fault.
 */
int atls_policy_load(const char *path, struct atls_policy **out, char *err, size_t errlen);

/* The same from a string; relative "pem-file" paths against basedir (or cwd). */
int atls_policy_parse(const char *text, const char *basedir, struct atls_policy **out,
		      char *err, size_t errlen);

void atls_policy_free(struct atls_policy *pol);

/* Must a peer in this role attest? ("require" list) */
bool atls_policy_role_required(const struct atls_policy *pol, enum atls_role role);
/* Must the evidence be exporter-bound? (binding = "exporter") */
bool atls_policy_exporter_required(const struct atls_policy *pol);
/* Is this evidence type accepted? ("evidence-types" list) */
bool atls_policy_accepts(const struct atls_policy *pol, enum atls_evidence type);
/* The PCR bank (TPM_ALG_ID) and selection the policy appraises. */
void atls_policy_pcrs(const struct atls_policy *pol, uint16_t *bank, uint32_t *mask);
/* Number of trusted AKs. */
unsigned int atls_policy_ak_count(const struct atls_policy *pol);

#ifdef __cplusplus
}
#endif
#endif /* ATLS_POLICY_H */
