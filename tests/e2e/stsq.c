/*
 * stsq.c - test program: ask the smtp program's MTA-STS code
 * (smtp/smtp_sts*.c) for a domain's policy, with the TXT records the
 * test gives in place of a DNS lookup, and print it. Runs as whoever runs
 * the test; it writes the policy cache in the instance's data_directory.
 *
 *   stsq [-c DIR] [-m HOST] DOMAIN [TXT...]
 *
 * Prints "mode enforce|testing|none", "id ID", "max_age N", one "mx P"
 * per pattern, "match HOST yes|no" with -m, and "note: ..." when the
 * cached policy was used because a fetch failed. Exits 0; 1 with
 * "error: WHY" when no policy could be had and none was cached; 64 on bad
 * usage, 78 on a bad configuration.
 */
#include "../../smtp/smtp_sts.c"
#include "../../smtp/smtp_sts_cache.c"

#include <getopt.h>

static const char *mode_name(enum sts_mode m)
{
	return m == STS_ENFORCE ? "enforce" : m == STS_TESTING ? "testing" : "none";
}

int main(int argc, char **argv)
{
	struct sts_policy p;
	struct buf err = BUF_INIT, why = BUF_INIT;
	const char *dir = NULL, *host = NULL;
	int c;

	while ((c = getopt(argc, argv, "c:m:")) != -1) {
		if (c == 'c')
			dir = optarg;
		else if (c == 'm')
			host = optarg;
		else
			return 64;
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: stsq [-c DIR] [-m HOST] DOMAIN [TXT...]\n");
		return 64;
	}
	if (config_load(dir, false, &err) < 0) {
		fprintf(stderr, "stsq: %s\n", buf_str(&err));
		return 78;
	}
	if (sts_policy_get(argv[optind], argv + optind + 1, (size_t)(argc - optind - 1), &p, &why) < 0) {
		printf("error: %s\n", buf_str(&why));
		buf_free(&why);
		buf_free(&err);
		return 1;
	}
	printf("mode %s\n", mode_name(p.mode));
	if (p.id[0] != '\0')
		printf("id %s\nmax_age %ld\n", p.id, p.max_age);
	for (size_t i = 0; i < p.nmx; i++)
		printf("mx %s\n", p.mx[i]);
	if (host != NULL)
		printf("match %s %s\n", host, sts_mx_matches(&p, host) ? "yes" : "no");
	if (why.len > 0)
		printf("note: %s\n", buf_str(&why));
	sts_policy_free(&p);
	buf_free(&err);
	buf_free(&why);
	return 0;
}
