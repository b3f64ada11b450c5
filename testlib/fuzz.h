/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * testlib: what the libFuzzer targets (libatls/fuzz, helperd/fuzz) share.
 * Header-only: the targets are built apart, with clang and sanitizers
 * (libatls/fuzz/build.mk), and link nothing of testlib.
 */
#ifndef TL_FUZZ_H
#define TL_FUZZ_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * One seed of the corpus: dir/name holds the selector byte sel (none if
 * sel < 0) followed by b[0..n).  dir is $ATLS_FUZZ_SEED_DIR
 * (libatls/fuzz/fuzz_check.sh); nothing is written without it.
 */
static inline void tl_fuzz_seed(const char *dir, const char *name, int sel, const void *b,
				size_t n)
{
	char path[4096];
	FILE *f;

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return;
	if (sel >= 0)
		fputc(sel, f);
	fwrite(b, 1, n, f);
	fclose(f);
}

/* A seed that an encoder of ours made in b (malloc'd): written, then freed. */
static inline void tl_fuzz_seed_free(const char *dir, const char *name, int sel, void *b,
				     size_t n)
{
	tl_fuzz_seed(dir, name, sel, b, n);
	free(b);
}

/* seeds[0..n) (strings) as dir/seed-0, dir/seed-1, ... */
static inline void tl_fuzz_text_seeds(const char *dir, const char *const *seeds, size_t n)
{
	char name[32];
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "seed-%zu", i);
		tl_fuzz_seed(dir, name, -1, seeds[i], strlen(seeds[i]));
	}
}

/* The strings of the array seeds, as tl_fuzz_text_seeds(), in $ATLS_FUZZ_SEED_DIR. */
#define TL_FUZZ_TEXT_SEEDS(seeds)						\
	tl_fuzz_text_seeds(getenv("ATLS_FUZZ_SEED_DIR"), seeds,		\
			   sizeof(seeds) / sizeof((seeds)[0]))

/*
 * The target's LLVMFuzzerInitialize(): write_seeds(dir) when
 * $ATLS_FUZZ_SEED_DIR names a seed dir, dir (fuzz_check.sh); nothing else.
 */
#define TL_FUZZ_SEEDS(write_seeds)						\
	int LLVMFuzzerInitialize(int *argc, char ***argv);			\
	int LLVMFuzzerInitialize(int *argc, char ***argv)			\
	{									\
		const char *tl_dir_ = getenv("ATLS_FUZZ_SEED_DIR");		\
										\
		(void)argc;							\
		(void)argv;							\
		if (tl_dir_)							\
			write_seeds(tl_dir_);					\
		return 0;							\
	}

/*
 * Debian 12's libconfig 1.5 leaks its string buffer when the lexer fails
 * inside a string literal (strbuf_append, libconfig_yylex: never freed on
 * those error paths): not ours, and bounded by one string per failed parse.
 * A target parsing libconfig text says TL_FUZZ_LIBCONFIG_LEAKS once.
 */
#define TL_FUZZ_LIBCONFIG_LEAKS							\
	const char *__lsan_default_suppressions(void);				\
	const char *__lsan_default_suppressions(void)				\
	{									\
		return "leak:strbuf_append\nleak:libconfig_yylex\n";		\
	}

#endif /* TL_FUZZ_H */
