/*
 * test_alias_expand.c - Check suite for the local expansion rules
 * (lib/mail/alias_expand.c): every alias form, .forward, :include:,
 * owner- aliases, loops, restrictions, duplicates, and value splitting.
 */
#include "compat.h"

#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/alias_expand.h"

struct kv {
	const char *key, *value;
};

static const struct kv aliases[] = {
	{"postmaster", "root"},
	{"root", "alice"},
	{"team", "alice, bob, carol@remote.example"},
	{"owner-team", "alice"},
	{"crew", "carol@remote.example"},
	{"owner-crew", "crew-admin@remote.example"},
	{"gang", "carol@remote.example"},
	{"owner-gang", "alice, bob"},
	{"pipe", "\"|/usr/bin/logger -t tern\""},
	{"pipe2", "|/bin/cat -n, alice"},
	{"file", "/var/log/archive"},
	{"maildir", "/srv/box/"},
	{"inc", ":include:/etc/tern/list"},
	{"self", "self, \\bob"},
	{"loop1", "loop2"},
	{"loop2", "loop1, alice"},
	{"ring1", "ring2"},
	{"ring2", "ring1"},
	{"selfinc", ":include:/etc/tern/selflist"},
	{"fwdloop", "gina"},
	{"deep0", "deep1"}, {"deep1", "deep2"}, {"deep2", "deep3"}, {"deep3", "deep4"},
	{"deep4", "alice"},
	{"dup", "alice, alice@localhost, ALICE"},
	{"bob+list", "carol@remote.example"},
	{"badinc", ":include:relative"},
	{"rinc", ":include:/etc/tern/remote"},
	{"broken", ":include:/nonexistent"},
	{"tempfail", NULL},
	{NULL, NULL},
};

static const struct kv forwards[] = {
	{"dave", "dave@elsewhere.example\n# comment\n\\dave\n"},
	{"dave+news", "|/usr/bin/procmail"},
	{"erin", "# nothing but a comment\n"},
	{"frank", "/home/frank/saved"},
	{"gina", "fwdloop@localhost"},
	{"hank", "hank, ivan"},
	{"ivan", "judy"},
	{"judy", "ivan"},
	{"kate", ":include:/etc/tern/remote"},
	{"liam", "inc"},
	{NULL, NULL},
};

static const struct kv includes[] = {
	{"/etc/tern/list", "alice\nbob # a comment\n\"|/bin/true\"\n"},
	{"/etc/tern/selflist", "selfinc\nbob\n"},
	{"/etc/tern/remote", "list@remote.example\n"},
	{NULL, NULL},
};

static int lookup(const struct kv *t, const char *key, struct buf *value)
{
	for (; t->key; t++) {
		if (strcmp(t->key, key) == 0) {
			if (t->value == NULL)
				return -1;
			buf_reset(value);
			buf_adds(value, t->value);
			return 1;
		}
	}
	return 0;
}

static int cb_alias(void *ctx, const char *name, struct buf *value)
{
	(void)ctx;
	return lookup(aliases, name, value);
}

static int cb_forward(void *ctx, const char *user, const char *ext, struct buf *value,
    int *unmatched)
{
	char key[128];
	(void)ctx;
	*unmatched = 0;
	if (*ext) {
		snprintf(key, sizeof(key), "%s+%s", user, ext);
		if (lookup(forwards, key, value) > 0)
			return 1;
	}
	int r = lookup(forwards, user, value);
	*unmatched = r > 0 && *ext;
	return r;
}

/* Whose privileges each include file was read with, "path=user " (NULL shown as "-"). */
static struct buf readers = BUF_INIT;

static int cb_include(void *ctx, const char *path, const char *user, struct buf *value)
{
	(void)ctx;
	buf_printf(&readers, "%s=%s ", path, user ? user : "-");
	if (lookup(includes, path, value) > 0)
		return 1;
	buf_adds(value, "No such file or directory");
	return -1;
}

/* Local: no domain or @localhost; '+' is the delimiter. */
static int cb_local(void *ctx, const char *addr, struct buf *full, struct buf *base, struct buf *ext)
{
	const char *at = strchr(addr, '@');
	size_t n = at ? (size_t)(at - addr) : strlen(addr);
	(void)ctx;
	if (n == 0)
		return -1;
	if (at && strcasecmp(at + 1, "localhost") != 0)
		return 0;
	buf_reset(full);
	buf_reset(base);
	buf_reset(ext);
	for (size_t i = 0; i < n; i++)
		buf_addc(full, (char)tolower((unsigned char)addr[i]));
	const char *plus = memchr(buf_str(full), '+', full->len);
	if (plus) {
		buf_add(base, full->data, (size_t)(plus - full->data));
		buf_adds(ext, plus + 1);
	} else {
		buf_adds(base, buf_str(full));
	}
	return 1;
}

static const struct expand_ops ops = {
	.alias = cb_alias,
	.forward = cb_forward,
	.include = cb_include,
	.local = cb_local,
	.allow_commands = EXPAND_FROM_ALIAS | EXPAND_FROM_FORWARD,
	.allow_files = EXPAND_FROM_ALIAS | EXPAND_FROM_FORWARD,
	.max_depth = 5,
};

/* Destinations rendered as "kind:target[:owner]" joined by spaces, in order. */
static const struct {
	const char *rcpt;
	int ret;
	const char *want;
} rows[] = {
	{"alice", 0, "mbox:alice"},
	{"postmaster", 0, "mbox:alice"},
	{"team", 0, "mbox:alice:owner-team mbox:bob:owner-team remote:carol@remote.example:owner-team"},
	{"pipe", 0, "pipe:/usr/bin/logger -t tern"},
	{"pipe2", 0, "pipe:/bin/cat -n mbox:alice"},
	{"file", 0, "file:/var/log/archive"},
	{"maildir", 0, "file:/srv/box/"},
	{"inc", 0, "mbox:alice mbox:bob error:5.7.1"},
	{"self", 0, "mbox:self mbox:bob"},
	/* a -> b -> a: the looping branch bounces (5.4.6), the rest is delivered. */
	{"loop1", 0, "error:5.4.6 mbox:alice"},
	{"loop2", 0, "error:5.4.6 mbox:alice"},
	{"ring1", 0, "error:5.4.6"},
	/* An include file of an alias that names the alias: its mailbox. */
	{"selfinc", 0, "mbox:selfinc mbox:bob"},
	/* Through .forward files the same: alias -> .forward -> alias is a loop, */
	{"fwdloop", 0, "error:5.4.6"},
	/* a .forward naming its own user is the mailbox, a .forward ring a loop. */
	{"hank", 0, "mbox:hank error:5.4.6"},
	{"deep0", 0, "error:5.4.6"},
	{"dup", 0, "mbox:alice"},
	{"bob+list", 0, "remote:carol@remote.example"},
	{"bob+other", 0, "mbox:bob"},
	{"dave", 0, "remote:dave@elsewhere.example mbox:dave"},
	{"dave+news", 0, "pipe:/usr/bin/procmail"},
	{"erin", 0, "mbox:erin"},
	{"frank", 0, "file:/home/frank/saved"},
	{"badinc", 0, "error:5.3.5"},
	{"broken", -1, ""},
	{"tempfail", -1, ""},
	{"nobody", 0, "mbox:nobody"},
};

static void render(const struct dest_list *l, struct buf *out)
{
	static const char *const kinds[] = {"mbox", "pipe", "file", "remote", "error"};
	for (size_t i = 0; i < l->count; i++) {
		if (i)
			buf_addc(out, ' ');
		buf_printf(out, "%s:%s", kinds[l->d[i].kind],
		    l->d[i].kind == DEST_ERROR ? l->d[i].dsn : l->d[i].target);
		if (l->d[i].owner)
			buf_printf(out, ":%s", l->d[i].owner);
	}
}

START_TEST(test_rows)
{
	struct buf full = BUF_INIT, base = BUF_INIT, ext = BUF_INIT, err = BUF_INIT, got = BUF_INIT;
	struct dest_list l;

	dest_list_init(&l);
	ck_assert_int_eq(cb_local(NULL, rows[_i].rcpt, &full, &base, &ext), 1);
	int ret = alias_expand(&ops, buf_str(&full), buf_str(&base), buf_str(&ext), &l, &err);
	ck_assert_msg(ret == rows[_i].ret, "%s: ret %d (%s)", rows[_i].rcpt, ret, buf_str(&err));
	if (ret == 0) {
		render(&l, &got);
		ck_assert_msg(strcmp(buf_str(&got), rows[_i].want) == 0, "%s: got \"%s\" want \"%s\"",
		    rows[_i].rcpt, buf_str(&got), rows[_i].want);
	} else {
		ck_assert_uint_gt(err.len, 0);
	}
	dest_list_free(&l);
	buf_free(&full);
	buf_free(&base);
	buf_free(&ext);
	buf_free(&err);
	buf_free(&got);
}
END_TEST

/*
 * An include file named in a .forward is read as that user; one named in
 * an alias is not, even when a .forward led to the alias.
 */
START_TEST(test_include_reader)
{
	static const struct {
		const char *rcpt, *want;
	} cases[] = {
		{"kate", "/etc/tern/remote=kate "},
		{"liam", "/etc/tern/list=- "},
		{"inc", "/etc/tern/list=- "},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf err = BUF_INIT;
		struct dest_list l;

		dest_list_init(&l);
		buf_reset(&readers);
		ck_assert_int_eq(alias_expand(&ops, cases[i].rcpt, cases[i].rcpt, "", &l, &err), 0);
		ck_assert_msg(strcmp(buf_str(&readers), cases[i].want) == 0, "%s: got \"%s\" want \"%s\"",
		    cases[i].rcpt, buf_str(&readers), cases[i].want);
		dest_list_free(&l);
		buf_free(&err);
	}
	buf_free(&readers);
}
END_TEST

START_TEST(test_restrictions)
{
	struct expand_ops strict = ops;
	struct dest_list l;
	struct buf err = BUF_INIT;

	strict.allow_commands = 0;
	strict.allow_files = EXPAND_FROM_ALIAS;
	dest_list_init(&l);
	ck_assert_int_eq(alias_expand(&strict, "pipe", "pipe", "", &l, &err), 0);
	ck_assert_int_eq(l.d[0].kind, DEST_ERROR);
	ck_assert_ptr_nonnull(strstr(l.d[0].target, "mail to command is restricted"));
	dest_list_free(&l);
	ck_assert_int_eq(alias_expand(&strict, "frank", "frank", "", &l, &err), 0);
	ck_assert_int_eq(l.d[0].kind, DEST_ERROR);
	ck_assert_ptr_nonnull(strstr(l.d[0].target, "mail to file is restricted"));
	dest_list_free(&l);
	/* Commands from include files only when "include" is allowed. */
	strict.allow_commands = EXPAND_FROM_INCLUDE;
	ck_assert_int_eq(alias_expand(&strict, "inc", "inc", "", &l, &err), 0);
	ck_assert_int_eq(l.d[2].kind, DEST_PIPE);
	ck_assert_str_eq(l.d[2].target, "/bin/true");
	ck_assert_str_eq(l.d[2].via, "/etc/tern/list");
	dest_list_free(&l);
	buf_free(&err);
}
END_TEST

static const struct {
	const char *in;
	const char *want;	/* items joined by '|' */
} splits[] = {
	{"a, b,c", "a|b|c"},
	{"a b\tc\n", "a|b|c"},
	{"\"|/bin/prog arg, with comma\", x", "|/bin/prog arg, with comma|x"},
	{"|/bin/prog arg1 arg2, next", "|/bin/prog arg1 arg2|next"},
	{"\\user, /var/mail/x", "\\user|/var/mail/x"},
	{"\"john doe\"@example.com, y", "\"john doe\"@example.com|y"},
	{"# comment line\nreal", "real"},
	{":include:/etc/list", ":include:/etc/list"},
	{"", ""},
	{" , ,, ", ""},
};

/* expand_owner_alias: owner-NAME's value becomes owner_sender when it is one address. */
START_TEST(test_expand_owner)
{
	struct expand_ops eo = ops;
	struct dest_list l;
	struct buf err = BUF_INIT;

	dest_list_init(&l);
	/* Off: owner-NAME only. */
	ck_assert_int_eq(alias_expand(&eo, "crew", "crew", "", &l, &err), 0);
	ck_assert_str_eq(l.d[0].owner, "owner-crew");
	ck_assert_ptr_null(l.d[0].owner_sender);
	dest_list_free(&l);
	eo.expand_owner = 1;
	ck_assert_int_eq(alias_expand(&eo, "crew", "crew", "", &l, &err), 0);
	ck_assert_str_eq(l.d[0].owner, "owner-crew");
	ck_assert_str_eq(l.d[0].owner_sender, "crew-admin@remote.example");
	dest_list_free(&l);
	ck_assert_int_eq(alias_expand(&eo, "team", "team", "", &l, &err), 0);
	ck_assert_str_eq(l.d[2].owner_sender, "alice");
	dest_list_free(&l);
	/* A list cannot be a sender: owner-NAME stays. */
	ck_assert_int_eq(alias_expand(&eo, "gang", "gang", "", &l, &err), 0);
	ck_assert_str_eq(l.d[0].owner, "owner-gang");
	ck_assert_ptr_null(l.d[0].owner_sender);
	dest_list_free(&l);
	/* No owner, no owner_sender. */
	ck_assert_int_eq(alias_expand(&eo, "dave", "dave", "", &l, &err), 0);
	ck_assert_ptr_null(l.d[0].owner_sender);
	dest_list_free(&l);
	buf_free(&err);
}
END_TEST

/* propagate_unmatched_extensions: user+ext matched as user gives +ext to the addresses. */
static const struct {
	int propagate;
	const char *rcpt, *want;
} props[] = {
	{0, "team+x", "mbox:alice:owner-team mbox:bob:owner-team remote:carol@remote.example:owner-team"},
	{EXPAND_FROM_ALIAS, "team+x",
	 "mbox:alice:owner-team mbox:bob:owner-team remote:carol+x@remote.example:owner-team"},
	/* A full match leaves nothing to propagate. */
	{EXPAND_FROM_ALIAS, "bob+list", "remote:carol@remote.example"},
	{EXPAND_FROM_ALIAS, "rinc+x", "remote:list@remote.example"},
	{EXPAND_FROM_ALIAS | EXPAND_FROM_INCLUDE, "rinc+x", "remote:list+x@remote.example"},
	/* .forward (not .forward+x) found for dave+x; \dave stays the mailbox. */
	{EXPAND_FROM_ALIAS, "dave+x", "remote:dave@elsewhere.example mbox:dave"},
	{EXPAND_FROM_FORWARD, "dave+x", "remote:dave+x@elsewhere.example mbox:dave"},
	{EXPAND_FROM_FORWARD, "dave+news", "pipe:/usr/bin/procmail"},
};

START_TEST(test_propagate)
{
	struct expand_ops po = ops;
	struct buf full = BUF_INIT, base = BUF_INIT, ext = BUF_INIT, err = BUF_INIT, got = BUF_INIT;
	struct dest_list l;

	po.propagate = props[_i].propagate;
	dest_list_init(&l);
	ck_assert_int_eq(cb_local(NULL, props[_i].rcpt, &full, &base, &ext), 1);
	ck_assert_int_eq(alias_expand(&po, buf_str(&full), buf_str(&base), buf_str(&ext), &l, &err), 0);
	render(&l, &got);
	ck_assert_msg(strcmp(buf_str(&got), props[_i].want) == 0, "%d %s: got \"%s\" want \"%s\"",
	    props[_i].propagate, props[_i].rcpt, buf_str(&got), props[_i].want);
	dest_list_free(&l);
	buf_free(&full);
	buf_free(&base);
	buf_free(&ext);
	buf_free(&err);
	buf_free(&got);
}
END_TEST

START_TEST(test_split)
{
	char **items;
	size_t n = alias_split(splits[_i].in, &items);
	struct buf got = BUF_INIT;

	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_addc(&got, '|');
		buf_adds(&got, items[i]);
	}
	ck_assert_str_eq(buf_str(&got), splits[_i].want);
	alias_items_free(items, n);
	buf_free(&got);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("alias_expand");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_rows, 0, (int)(sizeof(rows) / sizeof(rows[0])));
	tcase_add_test(tc, test_restrictions);
	tcase_add_test(tc, test_include_reader);
	tcase_add_test(tc, test_expand_owner);
	tcase_add_loop_test(tc, test_propagate, 0, (int)(sizeof(props) / sizeof(props[0])));
	tcase_add_loop_test(tc, test_split, 0, (int)(sizeof(splits) / sizeof(splits[0])));
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
