/* SPDX-License-Identifier: Apache-2.0 */
/*
 * atls-run rules (Documentation/atls-run.1.rst, "RULES"): which listening
 * ports become attested listeners and which destinations become atls client
 * connections, with which policy. Shared by the launcher (which checks the
 * file before it runs anything) and the preload library.
 */
#ifndef ATLS_RUN_RULES_H
#define ATLS_RUN_RULES_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "uapi/linux/atls.h"

#define ATLS_RUN_MAX_RULES	64
#define ATLS_RUN_DEFAULT_CONFIG	"/etc/atls/run.conf"

enum atls_run_kind { ATLS_RUN_LISTEN, ATLS_RUN_CONNECT };

struct atls_run_rule {
	enum atls_run_kind kind;
	bool any_addr;			/* connect: "*" */
	int family;			/* connect: AF_INET or AF_INET6 */
	struct in6_addr addr;		/* connect: IPv4 as ::ffff:a.b.c.d */
	uint16_t port;			/* host order; 0 only for listen "*" */
	uint32_t timeout_ms;		/* 0: the kernel's default */
	char policy[ATLS_POLICY_MAX];
	char peer[ATLS_PEER_MAX];
	int line;
};

struct atls_run_rules {
	int n;
	struct atls_run_rule r[ATLS_RUN_MAX_RULES];
};

/*
 * Parse @path into @rules. 0, or -1 with a message "FILE:LINE: what" in
 * @err (size @errlen).
 */
int atls_run_parse(const char *path, struct atls_run_rules *rules, char *err,
		   size_t errlen);

/* The rule for a socket bound to @sa (listen) or connecting to it, or NULL. */
const struct atls_run_rule *atls_run_match(const struct atls_run_rules *rules,
					   enum atls_run_kind kind,
					   const struct sockaddr *sa, socklen_t len);

#endif
