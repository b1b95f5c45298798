/*
 * test_smtp_sts.c - Check suite for MTA-STS in the smtp program
 * (smtp/smtp_sts.c, smtp/smtp_sts_cache.c): the _mta-sts TXT record,
 * the policy file, MX matching (RFC 8461 3.1, 3.2, 4.1) and the cache
 * rules of sts_policy_get that need no network.
 *
 * smtp/ is built into its own program, so the sources are compiled into
 * this test directly.
 */
#include "../../smtp/smtp_sts.c"
#include "../../smtp/smtp_sts_cache.c"

#include <check.h>
#include <stdlib.h>

static const struct {
	const char *txt;
	int rc;
	const char *id;
} txt_cases[] = {
	{"v=STSv1; id=20160831085700Z;", 0, "20160831085700Z"},
	{"v=STSv1; id=20160831085700Z", 0, "20160831085700Z"},
	{"v=STSv1;id=abc", 0, "abc"},
	{"v=STSv1 ;\tid=abc ; ", 0, "abc"},
	{"v=STSv1; id=abc; foo=bar;", 0, "abc"},
	{"v=STSv1; ext_1.x-y=v!al; id=A1", 0, "A1"},
	{"v=STSv1; id=12345678901234567890123456789012", 0, "12345678901234567890123456789012"},
	{"v=STSv1;", -1, NULL},			/* no id */
	{"v=STSv1; foo=bar", -1, NULL},		/* no id */
	{"v=STSv1", -1, NULL},
	{"id=abc; v=STSv1;", -1, NULL},		/* v= not first */
	{" v=STSv1; id=abc", -1, NULL},
	{"v=STSv2; id=abc", -1, NULL},
	{"v=stsv1; id=abc", -1, NULL},
	{"v=STSv1x; id=abc", -1, NULL},
	{"v=STSv1; id=ab-c", -1, NULL},		/* bad id chars */
	{"v=STSv1; id=ab_c", -1, NULL},
	{"v=STSv1; id=ab c", -1, NULL},
	{"v=STSv1; id=", -1, NULL},
	{"v=STSv1; id=123456789012345678901234567890123", -1, NULL},	/* 33 */
	{"v=STSv1; id=a; id=b", -1, NULL},
	{"v=STSv1; id=a; v=STSv1", -1, NULL},
	{"v=STSv1; id=a;; x=y", -1, NULL},
	{"v=STSv1; id=a; =y", -1, NULL},
	{"v=STSv1; id=a; x=", -1, NULL},
	{"v=STSv1; id=a; x y=z", -1, NULL},
	{"", -1, NULL},
};

START_TEST(test_txt)
{
	char id[64] = "unchanged";
	int rc = sts_parse_txt(txt_cases[_i].txt, id, sizeof(id));

	ck_assert_msg(rc == txt_cases[_i].rc, "\"%s\": %d", txt_cases[_i].txt, rc);
	if (rc == 0)
		ck_assert_str_eq(id, txt_cases[_i].id);
}
END_TEST

START_TEST(test_txt_small_buffer)
{
	char id[4];

	ck_assert_int_eq(sts_parse_txt("v=STSv1; id=abc", id, sizeof(id)), 0);
	ck_assert_int_eq(sts_parse_txt("v=STSv1; id=abcd", id, sizeof(id)), -1);
	ck_assert_int_eq(sts_parse_txt(NULL, id, sizeof(id)), -1);
}
END_TEST

static int parse(const char *text, struct sts_policy *p, struct buf *why)
{
	buf_reset(why);
	return sts_parse_policy(text, strlen(text), p, why);
}

START_TEST(test_policy_ok)
{
	struct sts_policy p = STS_POLICY_INIT;
	struct buf why = BUF_INIT;

	ck_assert_int_eq(parse("version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
	    "mx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n", &p, &why), 0);
	ck_assert_int_eq(p.mode, STS_ENFORCE);
	ck_assert_int_eq(p.max_age, 604800);
	ck_assert_uint_eq(p.nmx, 3);
	ck_assert_str_eq(p.mx[0], "mail.example.com");
	ck_assert_str_eq(p.mx[1], "*.example.net");
	ck_assert_str_eq(p.mx[2], "backupmx.example.com");
	sts_policy_free(&p);

	/* LF lines, no end on the last, white space, unknown keys, case folded mx */
	ck_assert_int_eq(parse("version: STSv1\nmode:testing  \nfoo: bar baz\nx-ext:\n"
	    "mx:\tMX.Example.COM.\nmax_age:86400", &p, &why), 0);
	ck_assert_int_eq(p.mode, STS_TESTING);
	ck_assert_int_eq(p.max_age, 86400);
	ck_assert_uint_eq(p.nmx, 1);
	ck_assert_str_eq(p.mx[0], "mx.example.com");
	sts_policy_free(&p);

	/* mode none needs no mx; an empty line at the end is harmless */
	ck_assert_int_eq(parse("version: STSv1\nmode: none\nmax_age: 0\n\n", &p, &why), 0);
	ck_assert_int_eq(p.mode, STS_NONE);
	ck_assert_uint_eq(p.nmx, 0);
	sts_policy_free(&p);

	/* the first of version, mode, max_age counts */
	ck_assert_int_eq(parse("version: STSv1\nmode: testing\nmode: enforce\nmx: a.b\n"
	    "max_age: 5\nmax_age: 9\n", &p, &why), 0);
	ck_assert_int_eq(p.mode, STS_TESTING);
	ck_assert_int_eq(p.max_age, 5);
	sts_policy_free(&p);
	buf_free(&why);
}
END_TEST

START_TEST(test_policy_max_age_cap)
{
	struct sts_policy p = STS_POLICY_INIT;
	struct buf why = BUF_INIT;

	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 31557600\n", &p, &why), 0);
	ck_assert_int_eq(p.max_age, 31557600);
	sts_policy_free(&p);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 31557601\n", &p, &why), 0);
	ck_assert_int_eq(p.max_age, STS_MAX_AGE_CAP);
	sts_policy_free(&p);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 9999999999\n", &p, &why), 0);
	ck_assert_int_eq(p.max_age, STS_MAX_AGE_CAP);
	sts_policy_free(&p);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 99999999999\n", &p, &why), -1);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a.b\nmax_age: -1\n", &p, &why), -1);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a.b\nmax_age: 1d\n", &p, &why), -1);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a.b\nmax_age:\n", &p, &why), -1);
	buf_free(&why);
}
END_TEST

static const struct {
	const char *text;
	const char *why;
} bad_policies[] = {
	{"mode: enforce\nmx: a.b\nmax_age: 1\n", "no \"version: STSv1\""},
	{"version: STSv1\nmx: a.b\nmax_age: 1\n", "no mode"},
	{"version: STSv1\nmode: enforce\nmx: a.b\n", "no max_age"},
	{"version: STSv1\nmode: enforce\nmax_age: 1\n", "no mx"},
	{"version: STSv1\nmode: testing\nmax_age: 1\n", "no mx"},
	{"version: STSv2\nmode: enforce\nmx: a.b\nmax_age: 1\n", "not STSv1"},
	{"version: STSv1\nmode: Enforce\nmx: a.b\nmax_age: 1\n", "not enforce"},
	{"version: STSv1\nmode: enforce\nmx: a..b\nmax_age: 1\n", "mx \"a..b\""},
	{"version: STSv1\nmode: enforce\nmx: a.*.b\nmax_age: 1\n", "mx"},
	{"version: STSv1\nmode: enforce\nmx: *\nmax_age: 1\n", "mx"},
	{"version: STSv1\nmode: enforce\nmx: a_b.c\nmax_age: 1\n", "mx"},
	{"version: STSv1\nmode: enforce\nmx: -a.b\nmax_age: 1\n", "mx"},
	{"version: STSv1\nmode: enforce\nmx: a b\nmax_age: 1\n", "mx"},
	{"version: STSv1\nmode: enforce\nmx:\nmax_age: 1\n", "mx"},
	{"version: STSv1\nmode: enforce\njunk line\nmx: a.b\nmax_age: 1\n", "line 3"},
	{"version: STSv1\nmode: enf\x01orce\nmx: a.b\nmax_age: 1\n", "control"},
	{"<html>hello</html>", "line 1"},
	{"", "no \"version"},
};

START_TEST(test_policy_bad)
{
	struct sts_policy p = STS_POLICY_INIT;
	struct buf why = BUF_INIT;

	ck_assert_int_eq(parse(bad_policies[_i].text, &p, &why), -1);
	ck_assert_msg(strstr(buf_str(&why), bad_policies[_i].why) != NULL,
	    "\"%s\": %s", bad_policies[_i].text, buf_str(&why));
	ck_assert_ptr_null(p.mx);
	ck_assert_uint_eq(p.nmx, 0);
	buf_free(&why);
}
END_TEST

START_TEST(test_policy_too_long)
{
	struct sts_policy p = STS_POLICY_INIT;
	struct buf why = BUF_INIT;
	size_t len = STS_POLICY_MAX + 1;
	char *text = xmalloc(len);

	memset(text, '\n', len);
	ck_assert_int_eq(sts_parse_policy(text, len, &p, &why), -1);
	ck_assert_ptr_nonnull(strstr(buf_str(&why), "longer"));
	free(text);
	buf_free(&why);
}
END_TEST

START_TEST(test_mx_matches)
{
	struct sts_policy p = STS_POLICY_INIT;
	struct buf why = BUF_INIT;

	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmax_age: 1\n"
	    "mx: mail.example.com\nmx: *.example.net\n", &p, &why), 0);
	ck_assert(sts_mx_matches(&p, "mail.example.com"));
	ck_assert(sts_mx_matches(&p, "MAIL.Example.Com"));
	ck_assert(sts_mx_matches(&p, "mail.example.com."));
	ck_assert(!sts_mx_matches(&p, "mail.example.com.."));
	ck_assert(!sts_mx_matches(&p, "x.mail.example.com"));
	ck_assert(!sts_mx_matches(&p, "example.com"));
	ck_assert(!sts_mx_matches(&p, "mail.example.co"));
	ck_assert(sts_mx_matches(&p, "mx1.example.net"));
	ck_assert(sts_mx_matches(&p, "MX1.EXAMPLE.NET."));
	ck_assert(!sts_mx_matches(&p, "example.net"));		/* one label, not none */
	ck_assert(!sts_mx_matches(&p, ".example.net"));
	ck_assert(!sts_mx_matches(&p, "a.b.example.net"));	/* nor two */
	ck_assert(!sts_mx_matches(&p, "mx1.xexample.net"));
	ck_assert(!sts_mx_matches(&p, "*.example.net.evil"));
	ck_assert(!sts_mx_matches(&p, ""));
	ck_assert(!sts_mx_matches(&p, "."));
	ck_assert(!sts_mx_matches(NULL, "mail.example.com"));
	sts_policy_free(&p);
	ck_assert(!sts_mx_matches(&p, "mail.example.com"));
	buf_free(&why);
}
END_TEST

/*
 * sts_policy_get without the network: the switch, no record, a cached
 * policy kept for its unchanged id and when the record goes away, an
 * expired one dropped, and ids and domains that cannot name a file.
 */
static char tmpdir[64];

/* A fresh data_directory for each test (tests may run in one process). */
static void mktmp(void)
{
	strlcpy(tmpdir, "/tmp/test_smtp_sts.XXXXXX", sizeof(tmpdir));
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void rmtmp(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void load(const char *extra)
{
	struct buf conf = BUF_INIT, err = BUF_INIT;

	buf_printf(&conf, "data_directory = %s\n%s", tmpdir, extra);
	ck_assert_msg(config_load_buffer("main.cf", conf.data, conf.len, &err) == 0, "%s", buf_str(&err));
	buf_free(&conf);
	buf_free(&err);
}

static void put_cache(const char *dom, const char *id, long long fetched, const char *policy)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/mta-sts", tmpdir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/mta-sts/%s", tmpdir, dom);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fprintf(f, "id %s\nfetched %lld\n\n%s", id, fetched, policy);
	fclose(f);
}

START_TEST(test_get_cache)
{
	static const char pol[] = "version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 3600\n";
	char *same[] = {"v=STSv1; id=one;"};
	char *two[] = {"v=STSv1; id=one;", "v=STSv1; id=two;"};
	char *other[] = {"some other record", "v=STSv1; id=one;"};
	struct sts_policy p;
	struct buf why = BUF_INIT;
	long long now = (long long)time(NULL);

	mktmp();
	load("");
	/* no record and nothing cached: no policy, no fetch */
	ck_assert_int_eq(sts_policy_get("example.test", NULL, 0, &p, &why), 0);
	ck_assert_int_eq(p.mode, STS_NONE);

	put_cache("example.test", "one", now - 10, pol);
	ck_assert_int_eq(sts_policy_get("Example.Test.", same, 1, &p, &why), 0);
	ck_assert_int_eq(p.mode, STS_ENFORCE);
	ck_assert_str_eq(p.id, "one");
	ck_assert_int_eq((long long)p.fetched, now - 10);
	ck_assert(sts_mx_matches(&p, "mx.example.test"));
	sts_policy_free(&p);
	/* a record gone, or two records (= none): the cached policy still holds */
	ck_assert_int_eq(sts_policy_get("example.test", NULL, 0, &p, &why), 0);
	ck_assert_int_eq(p.mode, STS_ENFORCE);
	sts_policy_free(&p);
	ck_assert_int_eq(sts_policy_get("example.test", two, 2, &p, &why), 0);
	ck_assert_int_eq(p.mode, STS_ENFORCE);
	sts_policy_free(&p);
	/* records not starting v=STSv1 are not counted */
	ck_assert_int_eq(sts_policy_get("example.test", other, 2, &p, &why), 0);
	ck_assert_int_eq(p.mode, STS_ENFORCE);
	sts_policy_free(&p);

	/* switched off */
	load("smtp_mta_sts = no\n");
	ck_assert_int_eq(sts_policy_get("example.test", same, 1, &p, &why), 0);
	ck_assert_int_eq(p.mode, STS_NONE);
	load("");

	/* expired, and no record: nothing */
	put_cache("example.test", "one", now - 4000, pol);
	ck_assert_int_eq(sts_policy_get("example.test", NULL, 0, &p, &why), 0);
	ck_assert_int_eq(p.mode, STS_NONE);
	/* a damaged cache file is no policy */
	put_cache("example.test", "one", now, "version: STSv1\nmode: enforce\n");
	ck_assert_int_eq(sts_policy_get("example.test", NULL, 0, &p, &why), 0);
	ck_assert_int_eq(p.mode, STS_NONE);

	/* domains that are no host name are never looked up or fetched */
	ck_assert_int_eq(sts_policy_get("../etc", same, 1, &p, &why), 0);
	ck_assert_int_eq(p.mode, STS_NONE);
	ck_assert_int_eq(sts_policy_get("a/b", same, 1, &p, &why), 0);
	ck_assert_int_eq(sts_policy_get("", same, 1, &p, &why), 0);
	ck_assert_int_eq(sts_policy_get("a..b", same, 1, &p, &why), 0);
	ck_assert_int_eq(sts_policy_get("example.test..", same, 1, &p, &why), 0);
	ck_assert_int_eq(sts_policy_get("ex ample.test", same, 1, &p, &why), 0);
	ck_assert_int_eq(p.mode, STS_NONE);
	buf_free(&why);
	rmtmp();
}
END_TEST

START_TEST(test_cache_write_read)
{
	static const char pol[] = "version: STSv1\r\nmode: testing\r\nmx: *.example.test\r\nmax_age: 600\r\n";
	struct sts_policy p = STS_POLICY_INIT, q = STS_POLICY_INIT;
	struct buf why = BUF_INIT;
	char path[256];
	struct stat st;

	mktmp();
	load("");
	ck_assert_int_eq(sts_parse_policy(pol, strlen(pol), &p, &why), 0);
	strlcpy(p.id, "abc123", sizeof(p.id));
	p.fetched = time(NULL);
	cache_write("example.test", &p, pol, strlen(pol));
	snprintf(path, sizeof(path), "%s/mta-sts", tmpdir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0700);
	ck_assert_int_eq(cache_read("example.test", &q), 0);
	ck_assert_int_eq(q.mode, STS_TESTING);
	ck_assert_str_eq(q.id, "abc123");
	ck_assert_int_eq(q.max_age, 600);
	ck_assert_int_eq((long long)q.fetched, (long long)p.fetched);
	ck_assert(cache_valid(&q, time(NULL)));
	ck_assert(!cache_valid(&q, time(NULL) + 601));
	sts_policy_free(&p);
	sts_policy_free(&q);
	buf_free(&why);
	rmtmp();
}
END_TEST

START_TEST(test_content_type)
{
	ck_assert(content_type_ok("text/plain"));
	ck_assert(content_type_ok("Text/Plain; charset=utf-8"));
	ck_assert(content_type_ok("text/plain;charset=us-ascii"));
	ck_assert(!content_type_ok("text/html"));
	ck_assert(!content_type_ok("text/plainx"));
	ck_assert(!content_type_ok(""));
	ck_assert(!content_type_ok(NULL));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("smtp_sts");
	TCase *tc = tcase_create("parse");
	tcase_add_loop_test(tc, test_txt, 0, sizeof(txt_cases) / sizeof(txt_cases[0]));
	tcase_add_test(tc, test_txt_small_buffer);
	tcase_add_test(tc, test_policy_ok);
	tcase_add_test(tc, test_policy_max_age_cap);
	tcase_add_loop_test(tc, test_policy_bad, 0, sizeof(bad_policies) / sizeof(bad_policies[0]));
	tcase_add_test(tc, test_policy_too_long);
	tcase_add_test(tc, test_mx_matches);
	tcase_add_test(tc, test_content_type);
	suite_add_tcase(s, tc);
	TCase *tg = tcase_create("get");
	tcase_add_test(tg, test_get_cache);
	tcase_add_test(tg, test_cache_write_read);
	suite_add_tcase(s, tg);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
