/*
 * test_domain_list.c - Check suite for domain lists (lib/mail/domain_list.c):
 * names with their subdomains, .subdomains only, negation, /file names
 * and type:table maps with parent lookups, and lists that cannot be opened.
 */
#include "compat.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/domain_list.h"

static const struct {
	const char *list, *domain;
	int want;
} rows[] = {
	{.list = "", .domain = "example.com", .want = 0},
	{.list = "example.com", .domain = "example.com", .want = 1},
	{.list = "Example.COM.", .domain = "example.com.", .want = 1},
	{.list = "example.com", .domain = "mx.Example.com", .want = 1},
	{.list = "example.com", .domain = "badexample.com", .want = 0},
	{.list = "example.com", .domain = "example.com.evil", .want = 0},
	{.list = "example.com", .domain = "com", .want = 0},
	{.list = ".example.com", .domain = "example.com", .want = 0},
	{.list = ".example.com", .domain = "a.example.com", .want = 1},
	{.list = "!a.example.com example.com", .domain = "a.example.com", .want = 0},
	{.list = "!a.example.com example.com", .domain = "b.example.com", .want = 1},
	{.list = "example.com !a.example.com", .domain = "a.example.com", .want = 1},	/* first match decides */
	{.list = "inline:{ example.net=OK }", .domain = "example.net", .want = 1},
	{.list = "inline:{ example.net=OK }", .domain = "x.y.example.net", .want = 1},
	{.list = "inline:{ example.net=OK }", .domain = "example.org", .want = 0},
	{.list = "!inline:{ x.example.net=OK }, example.net", .domain = "x.example.net", .want = 0},
	{.list = "a.example, b.example\tc.example", .domain = "c.example", .want = 1},
};

START_TEST(test_rows)
{
	struct buf err = BUF_INIT;
	struct domain_list *l = domain_list_open(rows[_i].list, &err);
	ck_assert_msg(l != NULL, "%s: %s", rows[_i].list, buf_str(&err));
	ck_assert_msg(domain_list_match(l, rows[_i].domain, &err) == rows[_i].want, "%s in [%s]",
		      rows[_i].domain, rows[_i].list);
	ck_assert(domain_list_empty(l) == (rows[_i].list[0] == '\0'));
	domain_list_free(l);
	buf_free(&err);
}
END_TEST

START_TEST(test_files)
{
	char dir[] = "/tmp/tern-test-domlist.XXXXXX", a[256], b[256], spec[600];
	struct buf err = BUF_INIT;
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	FILE *f = fopen(a, "w");
	fprintf(f, "# the list\nfiled.example # ours\n%s\n", b);
	fclose(f);
	f = fopen(b, "w");
	fprintf(f, "nested.example\n");
	fclose(f);
	snprintf(spec, sizeof(spec), "other.example, %s", a);
	struct domain_list *l = domain_list_open(spec, &err);
	ck_assert_msg(l != NULL, "%s", buf_str(&err));
	ck_assert_int_eq(domain_list_match(l, "mx.filed.example", &err), 1);
	ck_assert_int_eq(domain_list_match(l, "nested.example", &err), 1);
	ck_assert_int_eq(domain_list_match(l, "ours", &err), 0);
	ck_assert_int_eq(domain_list_match(l, "the", &err), 0);
	domain_list_free(l);
	/* A file that names itself ends, with an error. */
	f = fopen(b, "w");
	fprintf(f, "%s\n", b);
	fclose(f);
	ck_assert_ptr_null(domain_list_open(b, &err));
	ck_assert_msg(strstr(buf_str(&err), "nested too deep") != NULL, "%s", buf_str(&err));
	buf_reset(&err);
	unlink(a);
	unlink(b);
	ck_assert_ptr_null(domain_list_open(a, &err));
	buf_reset(&err);
	ck_assert_ptr_null(domain_list_open("example.com, !", &err));
	buf_reset(&err);
	ck_assert_ptr_null(domain_list_open("nosuchtype:whatever", &err));
	rmdir(dir);
	buf_free(&err);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("domain_list");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_rows, 0, (int)(sizeof(rows) / sizeof(rows[0])));
	tcase_add_test(tc, test_files);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
