/*
 * test_droprec.c - Check suite for the sendmail -> terndrop record stream
 * (lib/mail/droprec.c): framing, order, whitelists, limits, and that a
 * stream written by droprec_put reads back the same.
 */
#include "compat.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mail/droprec.h"
#include "util/buf.h"

/* Run a whole stream through parse + accept; returns the last accept result or -2 on a framing error. */
static int run_stream(const char *data, size_t len, struct droprec_state *st, struct buf *content)
{
	size_t off = 0;
	int last = DROPREC_OK;
	while (off < len) {
		char type;
		const char *rec;
		size_t reclen;
		long used = droprec_parse(data + off, len - off, &type, &rec, &reclen);
		if (used < 0)
			return -2;
		if (used == 0)
			return -3;	/* incomplete */
		off += (size_t)used;
		last = droprec_accept(st, type, rec, reclen);
		if (last == DROPREC_DATA && content)
			buf_add(content, rec, reclen);
		if (last == DROPREC_BAD)
			return last;
	}
	return last;
}

START_TEST(test_round_trip)
{
	struct buf s = BUF_INIT, content = BUF_INIT;
	droprec_put(&s, 'V', "1", 1);
	droprec_put(&s, 'S', "me@example.org", 14);
	droprec_put(&s, 'A', "full_name=Joe Public", 20);
	droprec_put(&s, 'A', "extract=yes", 11);
	droprec_put(&s, 'R', "6\trfc822;x@y\tx@y", 16);
	droprec_put(&s, 'R', "0\t\t\"a b\"@c", 10);
	droprec_put(&s, 'M', "", 0);
	droprec_put(&s, 'C', "Subject: x\n\n", 12);
	droprec_put(&s, 'C', "body\0with nul\n", 14);
	droprec_put(&s, 'E', "", 0);
	struct droprec_state st;
	droprec_init(&st, 0);
	ck_assert_int_eq(run_stream(s.data, s.len, &st, &content), DROPREC_END);
	ck_assert(st.sender_given);
	ck_assert_str_eq(buf_str(&st.sender), "me@example.org");
	ck_assert_uint_eq(st.nattr, 2);
	ck_assert_str_eq(st.attr_values[0], "Joe Public");
	ck_assert_uint_eq(st.nrcpt, 2);
	ck_assert_int_eq(st.rcpts[0].notify, 6);
	ck_assert_str_eq(st.rcpts[0].orcpt, "rfc822;x@y");
	ck_assert_str_eq(st.rcpts[1].address, "\"a b\"@c");
	ck_assert_uint_eq(content.len, 26);
	ck_assert_uint_eq(st.size, 26);
	ck_assert(!st.too_big);
	droprec_free(&st);
	buf_free(&s);
	buf_free(&content);
}
END_TEST

/* Streams that must be refused (framing -2 or order/content -1). */
static const struct bad_case {
	const char *name;
	const char *data;
	size_t len;		/* 0 = strlen */
	int want;
} bad_cases[] = {
	{.name = "no version", .data = "S0:\nM0:\nC1:x\nE0:\n", .want = DROPREC_BAD},
	{.name = "version 2", .data = "V1:2\n", .want = DROPREC_BAD},
	{.name = "two versions", .data = "V1:1\nV1:1\n", .want = DROPREC_BAD},
	{.name = "sender after rcpt", .data = "V1:1\nR4:0\t\ta\nS1:b\n", .want = DROPREC_BAD},
	{.name = "two senders", .data = "V1:1\nS1:a\nS1:b\n", .want = DROPREC_BAD},
	{.name = "attr not allowed", .data = "V1:1\nA5:uid=0\n", .want = DROPREC_BAD},
	{.name = "attr login not allowed", .data = "V1:1\nA10:login=root\n", .want = DROPREC_BAD},
	{.name = "attr repeated", .data = "V1:1\nA5:x=1\n", .want = DROPREC_BAD},
	{.name = "attr no equals", .data = "V1:1\nA9:full_name\n", .want = DROPREC_BAD},
	{.name = "attr after rcpt", .data = "V1:1\nR4:0\t\ta\nA11:full_name=x\n", .want = DROPREC_BAD},
	{.name = "rcpt bad notify", .data = "V1:1\nR4:z\t\ta\n", .want = DROPREC_BAD},
	{.name = "rcpt no tabs", .data = "V1:1\nR3:0 a\n", .want = DROPREC_BAD},
	{.name = "rcpt empty address", .data = "V1:1\nR3:0\t\t\n", .want = DROPREC_BAD},
	{.name = "rcpt newline in address", .data = "V1:1\nR5:0\t\ta\nb\n", .want = -2},
	{.name = "rcpt control char", .data = "V1:1\nR5:0\t\ta\001\n", .want = DROPREC_BAD},
	{.name = "sender with CR", .data = "V1:1\nS2:a\r\n", .want = DROPREC_BAD},
	/* What pickup would move to corrupt/ (droprec_rcpt_valid, droprec_sender_valid). */
	{.name = "rcpt with a space", .data = "V1:1\nR16:0\t\ta b@localhost\n", .want = DROPREC_BAD},
	{.name = "rcpt unbalanced quote", .data = "V1:1\nR7:0\t\t\"a@b\n", .want = DROPREC_BAD},
	{.name = "rcpt two addresses", .data = "V1:1\nR10:0\t\ta@b,c@d\n", .want = DROPREC_BAD},
	{.name = "sender with a space", .data = "V1:1\nS5:a b@x\n", .want = DROPREC_BAD},
	{.name = "content before M", .data = "V1:1\nC1:x\n", .want = DROPREC_BAD},
	{.name = "M twice", .data = "V1:1\nM0:\nM0:\n", .want = DROPREC_BAD},
	{.name = "M with data", .data = "V1:1\nM1:x\n", .want = DROPREC_BAD},
	{.name = "rcpt after M", .data = "V1:1\nM0:\nR4:0\t\ta\n", .want = DROPREC_BAD},
	{.name = "E before M", .data = "V1:1\nE0:\n", .want = DROPREC_BAD},
	{.name = "record after E", .data = "V1:1\nM0:\nE0:\nC1:x\n", .want = DROPREC_BAD},
	{.name = "unknown type", .data = "V1:1\nZ0:\n", .want = -2},
	{.name = "lower-case type", .data = "v1:1\n", .want = -2},
	{.name = "no length", .data = "V:1\n", .want = -2},
	{.name = "leading zero", .data = "V01:1\n", .want = -2},
	{.name = "length too long", .data = "C99999999:", .want = -2},
	{.name = "over the record limit", .data = "C65537:", .want = -2},
	{.name = "missing newline", .data = "V1:1X", .want = -2},
	{.name = "negative length", .data = "V-1:1\n", .want = -2},
	{.name = "truncated", .data = "V1:1\nC5:ab", .want = -3},
};

START_TEST(test_bad)
{
	const struct bad_case *c = &bad_cases[_i];
	struct droprec_state st;
	droprec_init(&st, 0);
	/* "attr repeated" needs the same name twice. */
	const char *data = c->data;
	if (strcmp(c->name, "attr repeated") == 0)
		data = "V1:1\nA11:full_name=a\nA11:full_name=b\n";
	int got = run_stream(data, c->len ? c->len : strlen(data), &st, NULL);
	ck_assert_msg(got == c->want, "%s: got %d want %d", c->name, got, c->want);
	if (got == DROPREC_BAD)
		ck_assert_uint_gt(st.error.len, 0);
	if (strcmp(c->name, "rcpt with a space") == 0)
		ck_assert_str_eq(buf_str(&st.error), "malformed recipient address: \"a b@localhost\"");
	droprec_free(&st);
}
END_TEST

START_TEST(test_size_limit)
{
	struct buf s = BUF_INIT;
	droprec_put(&s, 'V', "1", 1);
	droprec_put(&s, 'R', "0\t\ta@b", 6);
	droprec_put(&s, 'M', "", 0);
	droprec_put(&s, 'C', "0123456789", 10);
	droprec_put(&s, 'C', "0123456789", 10);
	droprec_put(&s, 'E', "", 0);
	struct droprec_state st;
	droprec_init(&st, 20);
	ck_assert_int_eq(run_stream(s.data, s.len, &st, NULL), DROPREC_END);
	ck_assert(!st.too_big);
	droprec_free(&st);
	droprec_init(&st, 19);
	ck_assert_int_eq(run_stream(s.data, s.len, &st, NULL), DROPREC_END);
	ck_assert(st.too_big);
	droprec_free(&st);
	buf_free(&s);
}
END_TEST

START_TEST(test_partial_input)
{
	/* Every prefix of a record asks for more input, never fails. */
	const char *rec = "C5:hello\n";
	for (size_t n = 0; n < strlen(rec); n++) {
		char type;
		const char *data;
		size_t len;
		ck_assert_int_eq(droprec_parse(rec, n, &type, &data, &len), 0);
	}
	char type;
	const char *data;
	size_t len;
	ck_assert_int_eq(droprec_parse(rec, strlen(rec), &type, &data, &len), (long)strlen(rec));
	ck_assert_int_eq(type, 'C');
	ck_assert_uint_eq(len, 5);
	ck_assert_int_eq(memcmp(data, "hello", 5), 0);
}
END_TEST

START_TEST(test_attr_whitelist)
{
	ck_assert(droprec_attr_allowed("full_name"));
	ck_assert(droprec_attr_allowed("dsn_ret"));
	ck_assert(!droprec_attr_allowed("uid"));
	ck_assert(!droprec_attr_allowed("login"));
	ck_assert(!droprec_attr_allowed("sender_given"));
	ck_assert(!droprec_attr_allowed(""));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("droprec");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_round_trip);
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad_cases) / sizeof(bad_cases[0]));
	tcase_add_test(tc, test_size_limit);
	tcase_add_test(tc, test_partial_input);
	tcase_add_test(tc, test_attr_whitelist);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
