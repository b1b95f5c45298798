/*
 * test_resolve.c - Check suite for address resolution (lib/mail/resolve_core.c):
 * local / virtual / relay classes, extensions, qualification, malformed input,
 * and routing (resolve_route.c): transport_maps, default_transport,
 * relay_transport, relay_domains, relayhost.
 */
#include "compat.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mail/resolve.h"

static char *dest[] = {"mail.example.com", "localhost.example.com", "localhost", NULL};
static char *vdom[] = {"virt.example.org", NULL};

/* Known local users for the table: alice, bob, and the alias list-request. */
static int known(const char *full, const char *base, void *ctx)
{
	(void)ctx;
	return strcmp(base, "alice") == 0 || strcmp(base, "bob") == 0
	    || strcmp(full, "list-request") == 0;
}

static const struct resolve_conf conf = {
	.mydestination = dest,
	.virtual_alias_domains = vdom,
	.myorigin = "mail.example.com",
	.recipient_delimiter = "+-",
	.relayhost = "",
	.user_known = known,
};

static const struct {
	const char *in;
	int ret;
	enum resolve_class class;
	const char *address, *localpart, *extension, *domain, *transport, *nexthop;
	bool known;
} rows[] = {
	{.in = "alice@mail.example.com", .class = RESOLVE_LOCAL, .address = "alice@mail.example.com",
	 .localpart = "alice", .extension = "", .domain = "mail.example.com", .transport = "local",
	 .nexthop = "mail.example.com", .known = true},
	{.in = "Alice+Tag@MAIL.Example.COM.", .class = RESOLVE_LOCAL,
	 .address = "Alice+Tag@mail.example.com", .localpart = "alice", .extension = "tag",
	 .domain = "mail.example.com", .transport = "local", .nexthop = "mail.example.com", .known = true},
	{.in = "<bob-x@localhost>", .class = RESOLVE_LOCAL, .address = "bob-x@localhost",
	 .localpart = "bob", .extension = "x", .domain = "localhost", .transport = "local",
	 .nexthop = "localhost", .known = true},
	{.in = "owner-list@localhost", .class = RESOLVE_LOCAL, .address = "owner-list@localhost",
	 .localpart = "owner-list", .extension = "", .domain = "localhost", .transport = "local",
	 .nexthop = "localhost", .known = false},
	{.in = "list-request@localhost", .class = RESOLVE_LOCAL, .address = "list-request@localhost",
	 .localpart = "list-request", .extension = "", .domain = "localhost", .transport = "local",
	 .nexthop = "localhost", .known = true},
	{.in = "carol", .class = RESOLVE_LOCAL, .address = "carol@mail.example.com",
	 .localpart = "carol", .extension = "", .domain = "mail.example.com", .transport = "local",
	 .nexthop = "mail.example.com", .known = false},
	{.in = "x@virt.example.org", .class = RESOLVE_VIRTUAL, .address = "x@virt.example.org",
	 .localpart = "", .extension = "", .domain = "virt.example.org", .transport = "error",
	 .nexthop = "5.1.1 User unknown in virtual alias table"},
	{.in = "user+x@Remote.Example.NET", .class = RESOLVE_RELAY,
	 .address = "user+x@remote.example.net", .localpart = "", .extension = "",
	 .domain = "remote.example.net", .transport = "smtp", .nexthop = "remote.example.net"},
	{.in = "@hop1,@hop2:alice@localhost", .class = RESOLVE_LOCAL, .address = "alice@localhost",
	 .localpart = "alice", .extension = "", .domain = "localhost", .transport = "local",
	 .nexthop = "localhost", .known = true},
	{.in = "\"a@b\"@remote.example.net", .class = RESOLVE_RELAY,
	 .address = "\"a@b\"@remote.example.net", .localpart = "", .extension = "",
	 .domain = "remote.example.net", .transport = "smtp", .nexthop = "remote.example.net"},
	{.in = "", .ret = -1, .class = RESOLVE_ERROR},
	{.in = "<>", .ret = -1, .class = RESOLVE_ERROR},
	{.in = "@example.com", .ret = -1, .class = RESOLVE_ERROR},
	{.in = "user@", .ret = -1, .class = RESOLVE_ERROR},
	{.in = "user@exa mple.com", .ret = -1, .class = RESOLVE_ERROR},
	{.in = "user@a..b", .ret = -1, .class = RESOLVE_ERROR},
	{.in = "\"unterminated@x", .ret = -1, .class = RESOLVE_ERROR},
	{.in = "bad\001ctl@localhost", .ret = -1, .class = RESOLVE_ERROR},
};

START_TEST(test_rows)
{
	struct resolved r;

	resolved_init(&r);
	int ret = resolve_address_with(rows[_i].in, &conf, &r);
	ck_assert_msg(ret == rows[_i].ret, "row %d (%s): ret %d", _i, rows[_i].in, ret);
	ck_assert_int_eq(r.class, rows[_i].class);
	if (ret == 0) {
		ck_assert_str_eq(buf_str(&r.address), rows[_i].address);
		ck_assert_str_eq(buf_str(&r.localpart), rows[_i].localpart);
		ck_assert_str_eq(buf_str(&r.extension), rows[_i].extension);
		ck_assert_str_eq(buf_str(&r.domain), rows[_i].domain);
		ck_assert_str_eq(buf_str(&r.transport), rows[_i].transport);
		ck_assert_str_eq(buf_str(&r.nexthop), rows[_i].nexthop);
		if (r.class == RESOLVE_LOCAL)
			ck_assert_msg(r.local_user_known == rows[_i].known, "row %d known", _i);
	}
	resolved_free(&r);
}
END_TEST

/*
 * Domains that are not ASCII (SMTPUTF8; the source holds them as UTF-8):
 * ours when listed byte for byte (ASCII letters in any case), relayed to
 * an ASCII next hop (relayhost, transport_maps), refused with a reason
 * otherwise, as Tern has no IDNA to find their A-label for DNS. A UTF-8
 * local part is not affected, nor is an A-label domain.
 */
START_TEST(test_idn_domains)
{
	static char *idest[] = {"localhost", "bücher.example", NULL};
	static char *ivdom[] = {"grüße.example", NULL};
	struct resolve_conf c = conf;
	struct resolved r;

	c.mydestination = idest;
	c.virtual_alias_domains = ivdom;
	c.percent_hack = true;	/* x%domain@localhost is x@domain */
	resolved_init(&r);
	ck_assert_int_eq(resolve_address_with("alice@bücher.example", &c, &r), 0);
	ck_assert_int_eq(r.class, RESOLVE_LOCAL);
	ck_assert_str_eq(buf_str(&r.transport), "local");
	ck_assert_str_eq(buf_str(&r.domain), "bücher.example");
	ck_assert(r.local_user_known);
	ck_assert_int_eq(resolve_address_with("alice@BüCHER.Example.", &c, &r), 0);
	ck_assert_int_eq(r.class, RESOLVE_LOCAL);
	ck_assert_str_eq(buf_str(&r.address), "alice@bücher.example");
	ck_assert_int_eq(resolve_address_with("x@grüße.example", &c, &r), 0);
	ck_assert_int_eq(r.class, RESOLVE_VIRTUAL);

	/* Not ours: refused, saying why (no DNS lookup of a U-label later). */
	static const char *const other[] = {"u@bücher.example.org", "u@müller.example", "jörg@bücher.example.org",
					    "x%müller.example@localhost", NULL};
	for (int i = 0; other[i] != NULL; i++) {
		ck_assert_msg(resolve_address_with(other[i], &c, &r) == -1, "%s resolved", other[i]);
		ck_assert_int_eq(r.class, RESOLVE_ERROR);
		ck_assert_str_eq(buf_str(&r.transport), "error");
		static const char want[] = "5.6.7 internationalized domain names are not supported";
		ck_assert_msg(strncmp(buf_str(&r.nexthop), want, sizeof(want) - 1) == 0, "%s: [%s]", other[i],
			      buf_str(&r.nexthop));
	}
	/* Malformed stays malformed, without a reason. */
	ck_assert_int_eq(resolve_address_with("u@b\xff.example", &c, &r), -1);
	ck_assert_str_eq(buf_str(&r.nexthop), "");
	ck_assert_int_eq(resolve_address_with("u@b\xc3.example", &c, &r), -1);
	ck_assert_str_eq(buf_str(&r.nexthop), "");
	ck_assert_int_eq(resolve_address_with("u@exa mple.com", &c, &r), -1);
	ck_assert_str_eq(buf_str(&r.nexthop), "");

	/* A UTF-8 local part and an A-label are ordinary addresses. */
	ck_assert_int_eq(resolve_address_with("jörg@remote.example.net", &c, &r), 0);
	ck_assert_int_eq(r.class, RESOLVE_RELAY);
	ck_assert_str_eq(buf_str(&r.nexthop), "remote.example.net");
	ck_assert_int_eq(resolve_address_with("u@xn--bcher-kva.example.org", &c, &r), 0);
	ck_assert_int_eq(r.class, RESOLVE_RELAY);
	ck_assert_str_eq(buf_str(&r.transport), "smtp");
	ck_assert_int_eq(resolve_address_with("jörg@localhost", &c, &r), 0);
	ck_assert_int_eq(r.class, RESOLVE_LOCAL);

	/* A relayhost takes remote U-label domains: it looks them up, not Tern. */
	c.relayhost = "[smarthost.example.com]:587";
	ck_assert_int_eq(resolve_address_with("u@müller.example", &c, &r), 0);
	ck_assert_int_eq(r.class, RESOLVE_RELAY);
	ck_assert_str_eq(buf_str(&r.address), "u@müller.example");
	ck_assert_str_eq(buf_str(&r.nexthop), "[smarthost.example.com]:587");
	resolved_free(&r);

	ck_assert(resolve_domain_not_ascii("u@bücher.example"));
	ck_assert(resolve_domain_not_ascii("\"a@b\"@bücher.example"));
	ck_assert(!resolve_domain_not_ascii("jörg@example.org"));
	ck_assert(!resolve_domain_not_ascii("\"ü@x\"@example.org"));
	ck_assert(!resolve_domain_not_ascii("jörg"));
}
END_TEST

START_TEST(test_relayhost_and_maildir_base)
{
	struct resolve_conf c = conf;
	struct resolved r;

	c.relayhost = "[smarthost.example.com]:587";
	c.local_maildir_base = "/srv/mail";
	resolved_init(&r);
	ck_assert_int_eq(resolve_address_with("u@elsewhere.example", &c, &r), 0);
	ck_assert_str_eq(buf_str(&r.nexthop), "[smarthost.example.com]:587");
	ck_assert_int_eq(resolve_address_with("nobody-at-all@localhost", &c, &r), 0);
	ck_assert(r.local_user_known);
	ck_assert_str_eq(buf_str(&r.localpart), "nobody");
	ck_assert_str_eq(buf_str(&r.extension), "at-all");
	ck_assert(!r.local_bad_name);
	/* Names no mailbox directory can have: refused, unless an alias takes them. */
	static const char *const bad[] = {"\"a/b\"@localhost", "\"../queue\"@localhost", ".hidden@localhost",
					  "\"x/../../etc\"@mail.example.com", NULL};
	for (int i = 0; bad[i] != NULL; i++) {
		ck_assert_int_eq(resolve_address_with(bad[i], &c, &r), 0);
		ck_assert_msg(!r.local_user_known && r.local_bad_name, "%s taken", bad[i]);
	}
	ck_assert(!resolve_mailbox_name_ok(""));
	ck_assert(resolve_mailbox_name_ok("a.b"));
	ck_assert_int_eq(resolve_address_with("alice@localhost", &c, &r), 0);
	ck_assert(r.local_user_known && !r.local_bad_name);
	resolved_free(&r);
}
END_TEST

/*
 * allow_percent_hack, swap_bangpath, append_dot_mydomain and
 * allow_min_user: a route through a local domain resolves to its end,
 * so that the relay check (smtpd) and the queue manager see where the
 * mail would really go.
 */
static const struct {
	const char *in;
	bool on;		/* the three rewritings on (Postfix's defaults for two of them) */
	bool dot;		/* append_dot_mydomain with "example.com" */
	int ret;
	enum resolve_class class;
	const char *address;
} routes[] = {
	{.in = "user%other.example@localhost", .on = true, .class = RESOLVE_RELAY,
	 .address = "user@other.example"},
	{.in = "user%other.example@localhost", .on = false, .class = RESOLVE_LOCAL,
	 .address = "user%other.example@localhost"},
	{.in = "user%other.example", .on = true, .class = RESOLVE_RELAY, .address = "user@other.example"},
	{.in = "user%other.example%localhost@mail.example.com", .on = true, .class = RESOLVE_RELAY,
	 .address = "user@other.example"},
	{.in = "alice%localhost@mail.example.com", .on = true, .class = RESOLVE_LOCAL,
	 .address = "alice@localhost"},
	{.in = "user%mail.example.com@other.example", .on = true, .class = RESOLVE_RELAY,
	 .address = "user%mail.example.com@other.example"},
	{.in = "other.example!user", .on = true, .class = RESOLVE_RELAY, .address = "user@other.example"},
	{.in = "other.example!user@localhost", .on = true, .class = RESOLVE_RELAY,
	 .address = "user@other.example"},
	{.in = "localhost!alice", .on = true, .class = RESOLVE_LOCAL, .address = "alice@localhost"},
	{.in = "other.example!user@localhost", .on = false, .class = RESOLVE_LOCAL,
	 .address = "other.example!user@localhost"},
	{.in = "\"user%other.example\"@localhost", .on = true, .class = RESOLVE_LOCAL,
	 .address = "\"user%other.example\"@localhost"},
	{.in = "alice@localhost", .on = true, .dot = true, .class = RESOLVE_LOCAL,
	 .address = "alice@localhost.example.com"},
	{.in = "alice@mail", .on = true, .dot = true, .class = RESOLVE_LOCAL,
	 .address = "alice@mail.example.com"},
	{.in = "bob@host", .on = true, .dot = true, .class = RESOLVE_RELAY,
	 .address = "bob@host.example.com"},
	{.in = "bob@host", .on = true, .dot = false, .class = RESOLVE_RELAY, .address = "bob@host"},
	{.in = "-alice@localhost", .on = true, .ret = -1, .class = RESOLVE_ERROR},
	{.in = "-x", .on = true, .ret = -1, .class = RESOLVE_ERROR},
	{.in = "-alice@localhost", .on = false, .class = RESOLVE_LOCAL, .address = "-alice@localhost"},
	{.in = "a-lice@localhost", .on = true, .class = RESOLVE_LOCAL, .address = "a-lice@localhost"},
};

START_TEST(test_routes)
{
	struct resolve_conf c = conf;
	struct resolved r;
	int ret;

	c.swap_bangpath = c.percent_hack = c.reject_min_user = routes[_i].on;
	c.append_dot_mydomain = routes[_i].dot ? "example.com" : NULL;
	resolved_init(&r);
	ret = resolve_address_with(routes[_i].in, &c, &r);
	ck_assert_msg(ret == routes[_i].ret, "row %d: ret %d", _i, ret);
	ck_assert_msg(r.class == routes[_i].class, "row %d: class %d", _i, (int)r.class);
	if (ret == 0)
		ck_assert_msg(strcmp(buf_str(&r.address), routes[_i].address) == 0, "row %d: %s", _i,
		    buf_str(&r.address));
	resolved_free(&r);
}
END_TEST

static const struct {
	const char *in, *delims, *base, *ext;
	int ret;
} splits[] = {
	{.in = "user+tag", .delims = "+", .base = "user", .ext = "tag", .ret = 1},
	{.in = "user+a+b", .delims = "+", .base = "user", .ext = "a+b", .ret = 1},
	{.in = "user", .delims = "+", .base = "user", .ext = "", .ret = 0},
	{.in = "user+tag", .delims = "", .base = "user+tag", .ext = "", .ret = 0},
	{.in = "+tag", .delims = "+", .base = "+tag", .ext = "", .ret = 0},
	{.in = "owner-foo", .delims = "-", .base = "owner-foo", .ext = "", .ret = 0},
	{.in = "foo-request", .delims = "-", .base = "foo-request", .ext = "", .ret = 0},
	{.in = "foo-bar", .delims = "-+", .base = "foo", .ext = "bar", .ret = 1},
};

START_TEST(test_split)
{
	struct buf base = BUF_INIT, ext = BUF_INIT;

	ck_assert_int_eq(resolve_split_extension(splits[_i].in, splits[_i].delims, &base, &ext),
	    splits[_i].ret);
	ck_assert_str_eq(buf_str(&base), splits[_i].base);
	ck_assert_str_eq(buf_str(&ext), splits[_i].ext);
	buf_free(&base);
	buf_free(&ext);
}
END_TEST


/* An in-memory transport_maps; a key "fail.example" makes the lookup fail. */
static const char *const table[][2] = {
	{"special@remote.example", "smtp:[10.0.0.1]:2525"},
	{"user@ext.example", "error:5.1.1 no such user here"},
	{"bounce.example", "error:no mail here"},
	{"bounce4.example", "error:4.7.1 try later"},
	{"later.example", "retry:4.4.1 on hold"},
	{"gone.example", "discard:"},
	{"inside.example", "local:"},
	{".sub.example", "relay:[gw.example]"},
	{"bare.example", "smtp"},
	{"hop.example", ":hop.example.org:26"},
	{"empty.example", "smtp:"},
	{"localhost", "error:local mail off"},
	{"grün.example", "smtp:[10.0.0.2]"},
	{"rot.example", "smtp:röt.example"},
};

static int lookup(const char *key, struct buf *value, void *ctx)
{
	int *calls = ctx;

	if (calls != NULL)
		(*calls)++;
	if (strcmp(key, "fail.example") == 0)
		return -1;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(table[i][0], key) == 0) {
			buf_reset(value);
			buf_adds(value, table[i][1]);
			return 1;
		}
	return 0;
}

static int relay_dom(const char *domain, void *ctx)
{
	(void)ctx;
	if (strcmp(domain, "broken.example") == 0)
		return -1;
	return strcmp(domain, "backup.example") == 0;
}

static const struct {
	const char *in, *relayhost, *deftr, *reltr;
	bool no_table;
	const char *transport, *nexthop, *localpart;
} routing[] = {
	/* Without a table entry: the class's default. */
	{.in = "a@remote.example", .transport = "smtp", .nexthop = "remote.example"},
	{.in = "a@remote.example", .relayhost = "[hub]:587", .transport = "smtp", .nexthop = "[hub]:587"},
	{.in = "a@backup.example", .transport = "relay", .nexthop = "backup.example"},
	{.in = "a@backup.example", .relayhost = "hub", .transport = "relay", .nexthop = "hub"},
	{.in = "a@backup.example", .reltr = "smtp:[gw2]", .relayhost = "hub", .transport = "smtp",
	 .nexthop = "[gw2]"},
	{.in = "a@remote.example", .deftr = "error", .transport = "error", .nexthop = ""},
	{.in = "a@remote.example", .deftr = "error:5.7.1 no outside mail", .transport = "error",
	 .nexthop = "5.7.1 no outside mail"},
	{.in = "a@remote.example", .deftr = "smtp:[out]:25", .relayhost = "hub", .transport = "smtp",
	 .nexthop = "[out]:25"},
	{.in = "a@broken.example", .transport = "retry", .nexthop = "4.3.0 relay_domains lookup failure"},
	{.in = "alice@localhost", .no_table = true, .transport = "local", .nexthop = "localhost"},
	/* The table: address, address without extension, domain, .parent. */
	{.in = "Special@Remote.Example", .relayhost = "hub", .transport = "smtp", .nexthop = "[10.0.0.1]:2525"},
	{.in = "user+tag@ext.example", .transport = "error", .nexthop = "5.1.1 no such user here"},
	{.in = "other@ext.example", .transport = "smtp", .nexthop = "ext.example"},
	{.in = "x@bounce.example", .transport = "error", .nexthop = "no mail here"},
	{.in = "x@later.example", .transport = "retry", .nexthop = "4.4.1 on hold"},
	{.in = "x@gone.example", .transport = "discard", .nexthop = ""},
	{.in = "Bob+x@inside.example", .transport = "local", .nexthop = "inside.example", .localpart = "bob"},
	{.in = "x@a.b.sub.example", .transport = "relay", .nexthop = "[gw.example]"},
	{.in = "x@sub.example", .transport = "smtp", .nexthop = "sub.example"},
	{.in = "x@bare.example", .relayhost = "hub", .transport = "smtp", .nexthop = "hub"},
	{.in = "x@empty.example", .relayhost = "hub", .transport = "smtp", .nexthop = "hub"},
	{.in = "x@empty.example", .transport = "smtp", .nexthop = "empty.example"},
	{.in = "x@empty.example", .deftr = "error:no", .relayhost = "hub", .transport = "smtp", .nexthop = "hub"},
	{.in = "x@hop.example", .deftr = "relay", .transport = "relay", .nexthop = "hop.example.org:26"},
	{.in = "x@fail.example", .transport = "retry", .nexthop = "4.3.0 transport_maps lookup failure"},
	{.in = "alice@localhost", .transport = "error", .nexthop = "local mail off"},
	/* A virtual alias domain's unknown user stays an error whatever the table says. */
	{.in = "x@virt.example.org", .transport = "error", .nexthop = "5.1.1 User unknown in virtual alias table"},
};

START_TEST(test_routing)
{
	struct resolve_conf c = conf;
	struct resolved r;

	c.relayhost = routing[_i].relayhost ? routing[_i].relayhost : "";
	c.default_transport = routing[_i].deftr;
	c.relay_transport = routing[_i].reltr;
	c.relay_domain = relay_dom;
	c.transport_lookup = routing[_i].no_table ? NULL : lookup;
	c.user_known = NULL;
	resolved_init(&r);
	ck_assert_int_eq(resolve_address_with(routing[_i].in, &c, &r), 0);
	ck_assert_msg(strcmp(buf_str(&r.transport), routing[_i].transport) == 0, "row %d: transport %s", _i,
	    buf_str(&r.transport));
	ck_assert_msg(strcmp(buf_str(&r.nexthop), routing[_i].nexthop) == 0, "row %d: nexthop %s", _i,
	    buf_str(&r.nexthop));
	if (routing[_i].localpart != NULL)
		ck_assert_str_eq(buf_str(&r.localpart), routing[_i].localpart);
	resolved_free(&r);
}
END_TEST

/* Only as many lookups as needed: the first key found ends the search. */
START_TEST(test_routing_order)
{
	struct resolve_conf c = conf;
	struct resolved r;
	int calls = 0;

	c.transport_lookup = lookup;
	c.ctx = &calls;
	c.user_known = NULL;
	resolved_init(&r);
	ck_assert_int_eq(resolve_address_with("u+t@a.b.c.example", &c, &r), 0);
	ck_assert_int_eq(calls, 6);	/* u+t@..., u@..., a.b.c.example, .b.c.example, .c.example, .example */
	calls = 0;
	ck_assert_int_eq(resolve_address_with("special@remote.example", &c, &r), 0);
	ck_assert_int_eq(calls, 1);
	resolved_free(&r);
}
END_TEST

static const struct {
	const char *in;
	char cls;
	const char *dsn, *text;
} texts[] = {
	{.in = "5.1.1 no such user", .cls = '5', .dsn = "5.1.1", .text = "no such user"},
	{.in = "4.7.1 later", .cls = '5', .dsn = "5.7.1", .text = "later"},
	{.in = "5.2.2 full", .cls = '4', .dsn = "4.2.2", .text = "full"},
	{.in = "no code", .cls = '5', .dsn = "5.0.0", .text = "no code"},
	{.in = "5.1 half", .cls = '5', .dsn = "5.0.0", .text = "5.1 half"},
	{.in = "5.1.1234 long", .cls = '5', .dsn = "5.0.0", .text = "5.1.1234 long"},
	{.in = "", .cls = '5', .dsn = "5.0.0", .text = "mail delivery disabled by the configuration"},
	{.in = "4.4.1", .cls = '4', .dsn = "4.4.1", .text = "mail delivery suspended by the configuration"},
	{.in = "", .cls = '2', .dsn = "2.0.0", .text = "discarded"},
};

START_TEST(test_error_text)
{
	char dsn[16];
	struct buf t = BUF_INIT;

	resolve_error_text(texts[_i].in, texts[_i].cls, dsn, sizeof(dsn), &t);
	ck_assert_str_eq(dsn, texts[_i].dsn);
	ck_assert_str_eq(buf_str(&t), texts[_i].text);
	buf_free(&t);
}
END_TEST

/* transport_maps can send a U-label domain to an ASCII next hop; a U-label next hop is refused. */
START_TEST(test_idn_transport)
{
	struct resolve_conf c = conf;
	struct resolved r;

	c.transport_lookup = lookup;
	resolved_init(&r);
	ck_assert_int_eq(resolve_address_with("u@grün.example", &c, &r), 0);
	ck_assert_int_eq(r.class, RESOLVE_RELAY);
	ck_assert_str_eq(buf_str(&r.nexthop), "[10.0.0.2]");
	ck_assert_int_eq(resolve_address_with("u@rot.example", &c, &r), -1);
	ck_assert(strncmp(buf_str(&r.nexthop), "5.6.7 ", 6) == 0);
	ck_assert_int_eq(resolve_address_with("u@blau.example", &c, &r), 0);
	ck_assert_int_eq(resolve_address_with("u@bläu.example", &c, &r), -1);
	resolved_free(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("resolve");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_rows, 0, (int)(sizeof(rows) / sizeof(rows[0])));
	tcase_add_test(tc, test_relayhost_and_maildir_base);
	tcase_add_test(tc, test_idn_domains);
	tcase_add_test(tc, test_idn_transport);
	tcase_add_loop_test(tc, test_routes, 0, (int)(sizeof(routes) / sizeof(routes[0])));
	tcase_add_loop_test(tc, test_split, 0, (int)(sizeof(splits) / sizeof(splits[0])));
	tcase_add_loop_test(tc, test_routing, 0, (int)(sizeof(routing) / sizeof(routing[0])));
	tcase_add_test(tc, test_routing_order);
	tcase_add_loop_test(tc, test_error_text, 0, (int)(sizeof(texts) / sizeof(texts[0])));
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
