/*
 * fuzz_sts_policy.c - libFuzzer target for the MTA-STS parsers
 * (smtp/smtp_sts.c), whose input comes from DNS and from an HTTPS server
 * we do not trust. The input is a policy file; its first line is also
 * tried as a TXT record and every line as an MX host name. A policy that
 * parses must be well formed: a known mode, max_age within the cap, mx
 * names of the pattern alphabet that match themselves.
 *
 * smtp/ is built into its own program, so its source is compiled in here.
 */
#include "../../smtp/smtp_sts.c"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sts_policy p = STS_POLICY_INIT;
	struct buf why = BUF_INIT, line = BUF_INIT;
	const char *text = (const char *)data;
	const char *nl = memchr(text, '\n', size);
	char id[STS_ID_MAX + 1];

	buf_add(&line, text, nl != NULL ? (size_t)(nl - text) : size);
	if (sts_parse_txt(buf_str(&line), id, sizeof(id)) == 0 &&
	    (strlen(id) == 0 || strlen(id) > STS_ID_MAX))
		abort();
	if (sts_parse_policy(text, size, &p, &why) == 0) {
		if (p.mode != STS_NONE && p.mode != STS_TESTING && p.mode != STS_ENFORCE)
			abort();
		if (p.max_age < 0 || p.max_age > STS_MAX_AGE_CAP || (p.mode != STS_NONE && p.nmx == 0))
			abort();
		for (size_t i = 0; i < p.nmx; i++) {
			if (strspn(p.mx[i], "*.-abcdefghijklmnopqrstuvwxyz0123456789") != strlen(p.mx[i]))
				abort();
			/* an exact pattern matches itself */
			if (p.mx[i][0] != '*' && !sts_mx_matches(&p, p.mx[i]))
				abort();
		}
		/* every line of the input as an MX host: no crash, no overread */
		for (const char *s = text, *end = text + size; s < end;) {
			const char *e = memchr(s, '\n', (size_t)(end - s));

			buf_reset(&line);
			buf_add(&line, s, e != NULL ? (size_t)(e - s) : (size_t)(end - s));
			(void)sts_mx_matches(&p, buf_str(&line));
			s = e != NULL ? e + 1 : end;
		}
		sts_policy_free(&p);
	} else if (why.len == 0 || p.mx != NULL) {
		abort();
	}
	buf_free(&why);
	buf_free(&line);
	return 0;
}
