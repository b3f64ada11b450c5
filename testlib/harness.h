/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * testlib: kselftest-harness fixtures and checks the tests share.  Include after
 * "kselftest_harness.h".
 */
#ifndef TL_HARNESS_H
#define TL_HARNESS_H

#include <stdlib.h>

#include "genl.h"
#include "util.h"

/*
 * Fixture `name` whose self->dir is a fresh temporary directory, removed at
 * teardown.  The macro is followed by the body of a function that makes the
 * fixture's files in self->dir (it may ASSERT, like a FIXTURE_SETUP):
 *
 *	TL_DIR_FIXTURE(cfg)
 *	{
 *		ASSERT_EQ(0, tl_make_cert_in(self->dir, "ca", "test-ca", true, NULL));
 *	}
 */
#define TL_DIR_FIXTURE(name)							\
	FIXTURE(name)								\
	{									\
		char *dir;							\
	};									\
	static void name##_files(struct __test_metadata *_metadata,		\
				 FIXTURE_DATA(name) *self);			\
	FIXTURE_SETUP(name)							\
	{									\
		self->dir = tl_tmpdir(#name);					\
		ASSERT_NE(NULL, self->dir);					\
		name##_files(_metadata, self);					\
	}									\
	FIXTURE_TEARDOWN(name)							\
	{									\
		tl_rmtree(self->dir);						\
		free(self->dir);						\
	}									\
	static void name##_files(struct __test_metadata __attribute__((unused)) *_metadata, \
				 FIXTURE_DATA(name) *self)

/*
 * Fixture `name` with two attesting sides (swtpm.h), self->srv and self->cli,
 * made by make (tl_side_pair or tl_side_server_client) with the tags
 * srv_tag and cli_tag, freed at teardown; the fixture's other members, if
 * any, follow:
 *
 *	TL_SIDES_FIXTURE(att, tl_side_pair, "srv", "cli", struct atls_ctx *sctx;);
 */
#define TL_SIDES_FIXTURE(name, make, srv_tag, cli_tag, ...)			\
	FIXTURE(name)								\
	{									\
		struct tl_side srv, cli;					\
		__VA_ARGS__							\
	};									\
	FIXTURE_SETUP(name)							\
	{									\
		ASSERT_EQ(0, make(&self->srv, &self->cli, srv_tag, cli_tag));	\
	}									\
	FIXTURE_TEARDOWN(name)							\
	{									\
		tl_side_free(&self->srv);					\
		tl_side_free(&self->cli);					\
	}

/* The forked helper's (genl.h) next result arrives within ms and is want. */
#define TL_EXPECT_RESULT(child, ms, want)					\
	do {									\
		int tl_v_;							\
										\
		ASSERT_EQ(0, tl_helper_result(child, &tl_v_, ms));		\
		EXPECT_EQ(want, tl_v_);						\
	} while (0)

#endif /* TL_HARNESS_H */
