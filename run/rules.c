// SPDX-License-Identifier: Apache-2.0
/*
 * The rules file of atls-run. One rule per line, '#' starts a comment:
 *
 *   listen PORT [policy=NAME] [timeout=MS]
 *   connect ADDR:PORT [policy=NAME] [peer=NAME] [timeout=MS]
 *
 * PORT is a number (or "*" for every listening port); ADDR is an IPv4
 * address, an IPv6 address in brackets, or "*" for any address. The first
 * matching rule wins. Anything else is an error: a rules file that does not
 * say exactly what is meant is refused rather than half applied.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

static int parse_port(const char *s, uint16_t *port, bool star_ok)
{
	char *end;
	long v;

	if (star_ok && !strcmp(s, "*")) {
		*port = 0;
		return 0;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

static int parse_dest(char *s, struct atls_run_rule *r)
{
	char *colon, *addr = s;
	struct in_addr a4;

	if (*s == '[') {
		char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -1;
		*close = 0;
		addr = s + 1;
		colon = close + 1;
	} else {
		colon = strchr(s, ':');
		if (!colon || strchr(colon + 1, ':'))
			return -1;	/* IPv6 addresses go in brackets */
		*colon = 0;
	}
	if (parse_port(colon + 1, &r->port, false))
		return -1;
	if (!strcmp(addr, "*")) {
		r->any_addr = true;
		return 0;
	}
	if (addr != s && inet_pton(AF_INET6, addr, &r->addr) == 1) {
		r->family = AF_INET6;
		return 0;
	}
	if (inet_pton(AF_INET, addr, &a4) == 1) {
		r->family = AF_INET;
		memset(&r->addr, 0, sizeof(r->addr));
		r->addr.s6_addr[10] = r->addr.s6_addr[11] = 0xff;
		memcpy(&r->addr.s6_addr[12], &a4, 4);
		return 0;
	}
	return -1;
}

static int parse_opt(char *tok, struct atls_run_rule *r)
{
	char *eq = strchr(tok, '=');
	char *end;
	long v;

	if (!eq)
		return -1;
	*eq++ = 0;
	if (!strcmp(tok, "policy")) {
		if (!*eq || strlen(eq) >= sizeof(r->policy))
			return -1;
		strcpy(r->policy, eq);
	} else if (!strcmp(tok, "peer") && r->kind == ATLS_RUN_CONNECT) {
		if (strlen(eq) >= sizeof(r->peer))
			return -1;
		strcpy(r->peer, eq);
	} else if (!strcmp(tok, "timeout")) {
		errno = 0;
		v = strtol(eq, &end, 10);
		if (errno || *end || v < 1 || v > ATLS_TIMEOUT_MAX_MS)
			return -1;
		r->timeout_ms = (uint32_t)v;
	} else {
		return -1;
	}
	return 0;
}

int atls_run_parse(const char *path, struct atls_run_rules *rules, char *err,
		   size_t errlen)
{
	char line[1024], *tok, *save;
	int ln = 0;
	FILE *f;

	memset(rules, 0, sizeof(*rules));
	f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		struct atls_run_rule *r;
		char *hash = strchr(line, '#');

		ln++;
		if (hash)
			*hash = 0;
		tok = strtok_r(line, " \t\r\n", &save);
		if (!tok)
			continue;
		if (rules->n == ATLS_RUN_MAX_RULES) {
			snprintf(err, errlen, "%s:%d: more than %d rules", path, ln,
				 ATLS_RUN_MAX_RULES);
			goto fail;
		}
		r = &rules->r[rules->n];
		memset(r, 0, sizeof(*r));
		r->line = ln;
		strcpy(r->policy, "default");
		if (!strcmp(tok, "listen")) {
			r->kind = ATLS_RUN_LISTEN;
			tok = strtok_r(NULL, " \t\r\n", &save);
			if (!tok || parse_port(tok, &r->port, true)) {
				snprintf(err, errlen, "%s:%d: listen needs a port (1-65535 or *)",
					 path, ln);
				goto fail;
			}
		} else if (!strcmp(tok, "connect")) {
			r->kind = ATLS_RUN_CONNECT;
			tok = strtok_r(NULL, " \t\r\n", &save);
			if (!tok || parse_dest(tok, r)) {
				snprintf(err, errlen, "%s:%d: connect needs ADDR:PORT "
					 "(a.b.c.d, [v6] or *)", path, ln);
				goto fail;
			}
		} else {
			snprintf(err, errlen, "%s:%d: unknown rule \"%s\" (listen, connect)",
				 path, ln, tok);
			goto fail;
		}
		while ((tok = strtok_r(NULL, " \t\r\n", &save))) {
			char copy[512];

			snprintf(copy, sizeof(copy), "%s", tok);
			if (parse_opt(tok, r)) {
				snprintf(err, errlen, "%s:%d: bad option \"%s\"", path, ln, copy);
				goto fail;
			}
		}
		rules->n++;
	}
	fclose(f);
	return 0;
fail:
	fclose(f);
	return -1;
}

static bool sa_addr_port(const struct sockaddr *sa, socklen_t len,
			 struct in6_addr *a, uint16_t *port)
{
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = (const void *)sa;

		memset(a, 0, sizeof(*a));
		a->s6_addr[10] = a->s6_addr[11] = 0xff;
		memcpy(&a->s6_addr[12], &s4->sin_addr, 4);
		*port = ntohs(s4->sin_port);
		return true;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		*a = s6->sin6_addr;
		*port = ntohs(s6->sin6_port);
		return true;
	}
	return false;
}

const struct atls_run_rule *atls_run_match(const struct atls_run_rules *rules,
					   enum atls_run_kind kind,
					   const struct sockaddr *sa, socklen_t len)
{
	struct in6_addr a;
	uint16_t port;
	int i;

	if (!sa || !sa_addr_port(sa, len, &a, &port))
		return NULL;
	for (i = 0; i < rules->n; i++) {
		const struct atls_run_rule *r = &rules->r[i];

		if (r->kind != kind)
			continue;
		if (kind == ATLS_RUN_LISTEN) {
			if (!r->port || r->port == port)
				return r;
			continue;
		}
		if (r->port != port)
			continue;
		/* IPv4 rules also match IPv4-mapped IPv6 destinations. */
		if (r->any_addr || !memcmp(&r->addr, &a, sizeof(a)))
			return r;
	}
	return NULL;
}
