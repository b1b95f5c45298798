/*
 * test_smtp_policy.c - Check suite for smtpd's access policy
 * (lib/mail/smtp_policy.c) and the network lists under it
 * (lib/util/cidr.c): table rows of client, HELO, sender, recipient and
 * the expected verdict and reply, with a main.cf and access tables
 * written for the test.
 */
#include "compat.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/smtp_policy.h"
#include "util/cidr.h"

static const struct cidr_row {
	const char *nets;	/* one network per row */
	const char *addr;
	bool parses, match;
} cidr_rows[] = {
	{.nets = "127.0.0.0/8", .addr = "127.0.0.2", .parses = true, .match = true},
	{.nets = "127.0.0.1/32", .addr = "127.0.0.2", .parses = true, .match = false},
	{.nets = "127.0.0.1", .addr = "127.0.0.1", .parses = true, .match = true},
	{.nets = "[::1]/128", .addr = "::1", .parses = true, .match = true},
	{.nets = "[::1]", .addr = "::2", .parses = true, .match = false},
	{.nets = "2001:db8::/32", .addr = "2001:db8:1::5", .parses = true, .match = true},
	{.nets = "2001:db8::/32", .addr = "2001:db9::5", .parses = true, .match = false},
	{.nets = "192.0.2.0/25", .addr = "192.0.2.127", .parses = true, .match = true},
	{.nets = "192.0.2.0/25", .addr = "192.0.2.128", .parses = true, .match = false},
	{.nets = "192.0.2.77/24", .addr = "192.0.2.1", .parses = true, .match = true},
	{.nets = "10.0.0.0/8", .addr = "::ffff:10.1.2.3", .parses = true, .match = true},
	{.nets = "0.0.0.0/0", .addr = "203.0.113.9", .parses = true, .match = true},
	{.nets = "0.0.0.0/0", .addr = "::1", .parses = true, .match = false},
	{.nets = "10.0.0.0/33", .parses = false},
	{.nets = "10.0.0/8", .parses = false},
	{.nets = "[::1", .parses = false},
	{.nets = "example.com", .parses = false},
	{.nets = "10.0.0.0/", .parses = false},
	{.nets = "10.0.0.0/-1", .parses = false},
};

START_TEST(test_cidr)
{
	const struct cidr_row *r = &cidr_rows[_i];
	struct cidr c;
	ck_assert_int_eq(cidr_parse(r->nets, &c), r->parses);
	if (!r->parses)
		return;
	struct cidr_list l = {0};
	char *items[] = {(char *)r->nets, NULL};
	ck_assert_int_eq(cidr_list_add(&l, items, NULL), 0);
	ck_assert_msg(cidr_list_match(&l, r->addr) == r->match, "%s in %s", r->addr, r->nets);
	cidr_list_free(&l);
}
END_TEST

static char dir[] = "/tmp/tern-test-policy.XXXXXX";

static void put(const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void load(const char *extra)
{
	struct buf text = BUF_INIT, err = BUF_INIT;
	buf_printf(&text,
		   "myhostname = mx.test.example\n"
		   "mydestination = localhost, $myhostname\n"
		   "mynetworks = 127.0.0.0/8, [::1]/128\n"
		   "local_maildir_base =\n"
		   "alias_maps = texthash:%s/aliases\n"
		   "virtual_alias_domains = virtual.example, catchall.example\n"
		   "virtual_alias_maps = texthash:%s/virtual\n"
		   "%s", dir, dir, extra);
	int rc = config_load_buffer("main.cf", text.data, text.len, &err);
	ck_assert_msg(rc == 0, "main.cf: %s", buf_str(&err));
	buf_free(&text);
	buf_free(&err);
}

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	put("aliases", "known-alias root\n");
	put("virtual", "someone@virtual.example root@localhost\nlocal-virtual@localhost root@localhost\n"
	    "@catchall.example root@localhost\n");
	put("client", "192.0.2 REJECT\n192.0.2.99 OK\n198.51.100.7 450 go slow\n"
	    "198.51.100.8 permit\n198.51.100.9 reject\n198.51.100.10 DEFER\n"
	    "198.51.100.11 421 4.7.0 go away now\n198.51.100.12 permit_mynetworks\n"
	    "198.51.100.13 no_such_action\n198.51.100.14 DUNNO\n"
	    "friendly.example OK\n198.51.100.20 REJECT\n");
	put("helo", "bad.example REJECT go away\n");
	put("sender", "spammer@example.net REJECT\nexample.org DUNNO\nfriend@ 550 5.7.9 no friends\n<> OK\n");
	put("rcpt", "blocked@localhost 554 5.7.2 blocked\npermit-me@other.example OK\n");
	put("relaydoms", "# relay_domains from a file\nfiled.example  # a comment\n, other-filed.example\n");
	put("relaymap", "mapped.example OK\n");
	put("relayrcpt", "known@relay.example OK\n@filed.example OK\ntagged@relay.example OK\n");
}

static void teardown(void)
{
	const char *names[] = {"aliases", "virtual", "client", "helo", "sender", "rcpt", "dnsrcpt",
				"relaydoms", "relaymap", "relayrcpt"};
	char path[256];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
	strlcpy(dir, "/tmp/tern-test-policy.XXXXXX", sizeof(dir));
}

#define ACCESS	"smtpd_client_restrictions = check_client_access texthash:%D/client\n" \
		"smtpd_helo_restrictions = check_helo_access texthash:%D/helo\n" \
		"smtpd_sender_restrictions = reject_non_fqdn_sender, check_sender_access texthash:%D/sender\n" \
		"smtpd_recipient_restrictions = check_recipient_access texthash:%D/rcpt, reject_non_fqdn_recipient\n"

/* relay_domains: names (with subdomains), .subdomains only, negation, a file and a table. */
#define RELAYDOMS "relay_domains = !deny.relay.example, relay.example, .subonly.example, %D/relaydoms, " \
		"texthash:%D/relaymap\n"
#define RELAYRCPT RELAYDOMS "relay_recipient_maps = texthash:%D/relayrcpt\nrecipient_delimiter = +\n"

/* When the policy is asked: RCPT (the default), or earlier with smtpd_delay_reject = no. */
enum stage { AT_RCPT, AT_CONNECT, AT_HELO, AT_MAIL, AT_DATA, AT_EOD };

#define NODELAY	"smtpd_delay_reject = no\n"

static const struct policy_row {
	const char *name;
	enum stage stage;
	size_t nrcpt;		/* AT_DATA, AT_EOD */
	const char *conf;	/* extra main.cf lines; %D is the test directory */
	const char *client, *client_name, *helo, *sender, *rcpt, *sasl;
	enum smtp_verdict want;
	const char *reply;	/* expected reply prefix when rejected */
} policy_rows[] = {
	/* The default relay policy. */
	{.name = "local recipient from outside", .client = "192.0.2.1", .rcpt = "root@localhost",
	 .want = SMTP_ACCEPT},
	{.name = "relay from outside", .client = "192.0.2.1", .rcpt = "x@example.com",
	 .want = SMTP_REJECT, .reply = "554 5.7.1 <x@example.com>: Relay access denied"},
	{.name = "relay from mynetworks", .client = "127.0.0.2", .rcpt = "x@example.com", .want = SMTP_ACCEPT},
	{.name = "relay from ::1", .client = "::1", .rcpt = "x@example.com", .want = SMTP_ACCEPT},
	{.name = "relay when authenticated", .client = "192.0.2.1", .sasl = "alice", .rcpt = "x@example.com",
	 .want = SMTP_ACCEPT},
	{.name = "percent hack", .client = "192.0.2.1", .rcpt = "x%example.com@localhost",
	 .want = SMTP_REJECT, .reply = "554 5.7.1"},
	{.name = "bang path", .client = "192.0.2.1", .rcpt = "example.com!x@localhost",
	 .want = SMTP_REJECT, .reply = "554 5.7.1"},
	{.name = "bang path without domain", .client = "192.0.2.1", .rcpt = "example.com!x",
	 .want = SMTP_REJECT, .reply = "554 5.7.1"},
	{.name = "quoted at", .client = "192.0.2.1", .rcpt = "\"x@example.com\"@localhost",
	 .want = SMTP_REJECT, .reply = "554 5.7.1"},
	{.name = "address literal", .client = "192.0.2.1", .rcpt = "x@[192.0.2.1]",
	 .want = SMTP_REJECT, .reply = "554 5.7.1"},
	{.name = "defer_unauth_destination", .conf = "smtpd_relay_restrictions = permit_mynetworks, defer_unauth_destination\n",
	 .client = "192.0.2.1", .rcpt = "x@example.com", .want = SMTP_REJECT,
	 .reply = "454 4.7.1 <x@example.com>: Relay access denied"},
	/*
	 * A domain that is not ASCII (the source holds it as UTF-8) and not
	 * ours: refused at RCPT before any restriction, whoever the client
	 * and whatever the unlisted check; ours (listed byte for byte), an
	 * A-label and a UTF-8 local part are ordinary recipients.
	 */
	{.name = "UTF-8 domain from mynetworks", .client = "127.0.0.1", .rcpt = "u@bücher.example",
	 .want = SMTP_REJECT, .reply = "553 5.6.7 <u@bücher.example>: Recipient address rejected: "
	 "internationalized domain names are not supported; use the A-label (xn--) form"},
	{.name = "UTF-8 domain when authenticated", .client = "192.0.2.1", .sasl = "alice", .rcpt = "u@bücher.example",
	 .want = SMTP_REJECT, .reply = "553 5.6.7 <u@bücher.example>: Recipient address rejected"},
	{.name = "UTF-8 domain, permissive restrictions, no unlisted check", .client = "127.0.0.1",
	 .conf = "smtpd_relay_restrictions = permit\nsmtpd_reject_unlisted_recipient = no\n",
	 .rcpt = "jörg@bücher.example", .want = SMTP_REJECT, .reply = "553 5.6.7 <jörg@bücher.example>"},
	{.name = "UTF-8 domain from outside", .client = "192.0.2.1", .rcpt = "u@bücher.example",
	 .want = SMTP_REJECT, .reply = "553 5.6.7"},
	{.name = "UTF-8 domain of ours", .conf = "mydestination = localhost, bücher.example\n",
	 .client = "192.0.2.1", .rcpt = "root@bücher.example", .want = SMTP_ACCEPT},
	{.name = "UTF-8 domain of ours, unknown user", .conf = "mydestination = localhost, bücher.example\n",
	 .client = "192.0.2.1", .rcpt = "nosuchuser-xyzzy@bücher.example", .want = SMTP_REJECT,
	 .reply = "550 5.1.1 <nosuchuser-xyzzy@bücher.example>: Recipient address rejected: User unknown"},
	{.name = "UTF-8 virtual domain", .conf = "virtual_alias_domains = grüße.example\n"
	 "virtual_alias_maps = inline:{ someone@grüße.example=root@localhost }\n",
	 .client = "192.0.2.1", .rcpt = "someone@grüße.example", .want = SMTP_ACCEPT},
	{.name = "A-label domain", .client = "127.0.0.1", .rcpt = "u@xn--bcher-kva.example", .want = SMTP_ACCEPT},
	{.name = "UTF-8 local part", .client = "127.0.0.1", .rcpt = "jörg@example.org", .want = SMTP_ACCEPT},
	/* relay_domains: anyone may send to them, nothing else is relayed for strangers. */
	{.name = "relay domain from outside", .conf = RELAYDOMS, .client = "192.0.2.1", .rcpt = "x@relay.example",
	 .want = SMTP_ACCEPT},
	{.name = "relay domain, upper case", .conf = RELAYDOMS, .client = "192.0.2.1", .rcpt = "x@RELAY.Example.",
	 .want = SMTP_ACCEPT},
	{.name = "relay domain's subdomain", .conf = RELAYDOMS, .client = "192.0.2.1", .rcpt = "x@a.b.relay.example",
	 .want = SMTP_ACCEPT},
	{.name = "relay domain negated", .conf = RELAYDOMS, .client = "192.0.2.1", .rcpt = "x@deny.relay.example",
	 .want = SMTP_REJECT, .reply = "554 5.7.1 <x@deny.relay.example>: Relay access denied"},
	{.name = "relay domain negated, its subdomain", .conf = RELAYDOMS, .client = "192.0.2.1",
	 .rcpt = "x@mx.deny.relay.example", .want = SMTP_REJECT, .reply = "554 5.7.1"},
	{.name = "relay domain .name: not the name", .conf = RELAYDOMS, .client = "192.0.2.1", .rcpt = "x@subonly.example",
	 .want = SMTP_REJECT, .reply = "554 5.7.1 <x@subonly.example>: Relay access denied"},
	{.name = "relay domain .name: its subdomains", .conf = RELAYDOMS, .client = "192.0.2.1",
	 .rcpt = "x@mx.subonly.example", .want = SMTP_ACCEPT},
	{.name = "relay domain from a file", .conf = RELAYDOMS, .client = "192.0.2.1", .rcpt = "x@filed.example",
	 .want = SMTP_ACCEPT},
	{.name = "relay domain from a file, second line", .conf = RELAYDOMS, .client = "192.0.2.1",
	 .rcpt = "x@other-filed.example", .want = SMTP_ACCEPT},
	{.name = "a comment in the file is no domain", .conf = RELAYDOMS, .client = "192.0.2.1", .rcpt = "x@comment",
	 .want = SMTP_REJECT, .reply = "554 5.7.1"},
	{.name = "relay domain from a table, parent lookup", .conf = RELAYDOMS, .client = "192.0.2.1",
	 .rcpt = "x@mx.mapped.example", .want = SMTP_ACCEPT},
	{.name = "not a relay domain", .conf = RELAYDOMS, .client = "192.0.2.1", .rcpt = "x@notrelay.example",
	 .want = SMTP_REJECT, .reply = "554 5.7.1 <x@notrelay.example>: Relay access denied"},
	{.name = "a suffix is no subdomain", .conf = RELAYDOMS, .client = "192.0.2.1", .rcpt = "x@evilrelay.example",
	 .want = SMTP_REJECT, .reply = "554 5.7.1"},
	{.name = "relay domain as a prefix", .conf = RELAYDOMS, .client = "192.0.2.1", .rcpt = "x@relay.example.evil.test",
	 .want = SMTP_REJECT, .reply = "554 5.7.1"},
	{.name = "percent hack through a relay domain", .conf = RELAYDOMS, .client = "192.0.2.1",
	 .rcpt = "x%evil.test@relay.example", .want = SMTP_REJECT, .reply = "554 5.7.1"},
	{.name = "quoted at through a relay domain", .conf = RELAYDOMS, .client = "192.0.2.1",
	 .rcpt = "\"x@evil.test\"@relay.example", .want = SMTP_REJECT, .reply = "554 5.7.1"},
	{.name = "bang path through a relay domain", .conf = RELAYDOMS, .client = "192.0.2.1",
	 .rcpt = "evil.test!x@relay.example", .want = SMTP_REJECT, .reply = "554 5.7.1"},
	{.name = "permit_auth_destination, relay domain",
	 .conf = RELAYDOMS "smtpd_relay_restrictions = permit_auth_destination, reject\n",
	 .client = "192.0.2.1", .rcpt = "x@relay.example", .want = SMTP_ACCEPT},
	/* relay_recipient_maps: who exists in the relay domains. */
	{.name = "relay recipients: any without the table", .conf = RELAYDOMS, .client = "192.0.2.1",
	 .rcpt = "nobody@relay.example", .want = SMTP_ACCEPT},
	{.name = "relay recipient listed", .conf = RELAYRCPT, .client = "192.0.2.1", .rcpt = "known@relay.example",
	 .want = SMTP_ACCEPT},
	{.name = "relay recipient listed, case", .conf = RELAYRCPT, .client = "192.0.2.1", .rcpt = "Known@RELAY.example",
	 .want = SMTP_ACCEPT},
	{.name = "relay recipient without its extension", .conf = RELAYRCPT, .client = "192.0.2.1",
	 .rcpt = "tagged+news@relay.example", .want = SMTP_ACCEPT},
	{.name = "relay recipient by @domain", .conf = RELAYRCPT, .client = "192.0.2.1", .rcpt = "anyone@filed.example",
	 .want = SMTP_ACCEPT},
	{.name = "relay recipient unlisted", .conf = RELAYRCPT, .client = "192.0.2.1", .rcpt = "nobody@relay.example",
	 .want = SMTP_REJECT,
	 .reply = "550 5.1.1 <nobody@relay.example>: Recipient address rejected: User unknown in relay recipient table"},
	{.name = "relay recipient unlisted, in a subdomain", .conf = RELAYRCPT, .client = "192.0.2.1",
	 .rcpt = "known@sub.relay.example", .want = SMTP_REJECT, .reply = "550 5.1.1"},
	{.name = "relay recipient unlisted, from mynetworks", .conf = RELAYRCPT, .client = "127.0.0.1",
	 .rcpt = "nobody@relay.example", .want = SMTP_REJECT,
	 .reply = "550 5.1.1 <nobody@relay.example>: Recipient address rejected: User unknown in relay recipient table"},
	{.name = "relay recipient table only for relay domains", .conf = RELAYRCPT, .client = "127.0.0.1",
	 .rcpt = "nobody@example.com", .want = SMTP_ACCEPT},
	{.name = "relay recipient table, unlisted check off", .conf = RELAYRCPT "smtpd_reject_unlisted_recipient = no\n",
	 .client = "192.0.2.1", .rcpt = "nobody@relay.example", .want = SMTP_ACCEPT},
	{.name = "relay recipient table, unlisted sender", .conf = RELAYRCPT "smtpd_reject_unlisted_sender = yes\n",
	 .client = "127.0.0.1", .sender = "nobody@relay.example", .rcpt = "root@localhost", .want = SMTP_REJECT,
	 .reply = "550 5.1.0 <nobody@relay.example>: Sender address rejected: User unknown in relay recipient table"},
	/* unknown_local_recipient_reject_code, with the DSN class to match. */
	{.name = "unknown local user, 450", .conf = "unknown_local_recipient_reject_code = 450\n", .client = "192.0.2.1",
	 .rcpt = "nosuchuser-xyzzy@localhost", .want = SMTP_REJECT,
	 .reply = "450 4.1.1 <nosuchuser-xyzzy@localhost>: Recipient address rejected: User unknown in local recipient table"},
	{.name = "unknown local sender, 450", .conf = "unknown_local_recipient_reject_code = 450\n"
	 "smtpd_reject_unlisted_sender = yes\n", .client = "127.0.0.1", .sender = "nosuchuser-xyzzy@localhost",
	 .rcpt = "root@localhost", .want = SMTP_REJECT,
	 .reply = "450 4.1.0 <nosuchuser-xyzzy@localhost>: Sender address rejected: User unknown in local recipient table"},
	{.name = "unknown local user, 554", .conf = "unknown_local_recipient_reject_code = 554\n", .client = "192.0.2.1",
	 .rcpt = "nosuchuser-xyzzy@localhost", .want = SMTP_REJECT, .reply = "554 5.1.1 <nosuchuser-xyzzy@localhost>"},
	{.name = "virtual keeps 550", .conf = "unknown_local_recipient_reject_code = 450\n", .client = "192.0.2.1",
	 .rcpt = "nobody@virtual.example", .want = SMTP_REJECT, .reply = "550 5.1.1 <nobody@virtual.example>"},
	/* Unknown recipients. */
	{.name = "unknown local user", .client = "127.0.0.1", .rcpt = "nosuchuser-xyzzy@localhost",
	 .want = SMTP_REJECT, .reply = "550 5.1.1 <nosuchuser-xyzzy@localhost>: Recipient address rejected: User unknown in local recipient table"},
	{.name = "alias", .client = "192.0.2.1", .rcpt = "known-alias@mx.test.example", .want = SMTP_ACCEPT},
	{.name = "virtual alias", .client = "192.0.2.1", .rcpt = "someone@virtual.example", .want = SMTP_ACCEPT},
	{.name = "unknown virtual", .client = "192.0.2.1", .rcpt = "nobody@virtual.example", .want = SMTP_REJECT,
	 .reply = "550 5.1.1 <nobody@virtual.example>: Recipient address rejected: User unknown in virtual alias table"},
	{.name = "virtual alias of a local address", .client = "192.0.2.1", .rcpt = "local-virtual@localhost",
	 .want = SMTP_ACCEPT},
	{.name = "unlisted check off", .conf = "smtpd_reject_unlisted_recipient = no\n", .client = "192.0.2.1",
	 .rcpt = "nosuchuser-xyzzy@localhost", .want = SMTP_ACCEPT},
	/* Access tables. */
	{.name = "client network rejected", .conf = ACCESS, .client = "192.0.2.5", .rcpt = "root@mx.test.example",
	 .want = SMTP_REJECT, .reply = "554 5.7.1 <unknown[192.0.2.5]>: Client host rejected: Access denied"},
	{.name = "client address wins over network", .conf = ACCESS, .client = "192.0.2.99", .rcpt = "root@mx.test.example",
	 .want = SMTP_ACCEPT},
	{.name = "client 4xx text", .conf = ACCESS, .client = "198.51.100.7", .rcpt = "root@mx.test.example",
	 .want = SMTP_REJECT, .reply = "450 4.7.1 <unknown[198.51.100.7]>: Client host rejected: go slow"},
	{.name = "helo rejected with text", .conf = ACCESS, .client = "203.0.113.1", .helo = "mail.bad.example",
	 .rcpt = "root@mx.test.example", .want = SMTP_REJECT,
	 .reply = "554 5.7.1 <mail.bad.example>: Helo command rejected: go away"},
	{.name = "sender rejected", .conf = ACCESS, .client = "203.0.113.1", .sender = "spammer@example.net",
	 .rcpt = "root@mx.test.example", .want = SMTP_REJECT,
	 .reply = "554 5.7.1 <spammer@example.net>: Sender address rejected: Access denied"},
	{.name = "sender DUNNO by domain", .conf = ACCESS, .client = "203.0.113.1", .sender = "a@example.org",
	 .rcpt = "root@mx.test.example", .want = SMTP_ACCEPT},
	{.name = "sender localpart key with enhanced code", .conf = ACCESS, .client = "203.0.113.1",
	 .sender = "friend@example.com", .rcpt = "root@mx.test.example", .want = SMTP_REJECT,
	 .reply = "550 5.7.9 <friend@example.com>: Sender address rejected: no friends"},
	{.name = "null sender", .conf = ACCESS, .client = "203.0.113.1", .sender = "", .rcpt = "root@mx.test.example",
	 .want = SMTP_ACCEPT},
	{.name = "non-fqdn sender", .conf = ACCESS, .client = "203.0.113.1", .sender = "someone@host",
	 .rcpt = "root@mx.test.example", .want = SMTP_REJECT,
	 .reply = "504 5.5.2 <someone@host>: Sender address rejected: need fully-qualified address"},
	{.name = "recipient map", .conf = ACCESS, .client = "127.0.0.1", .rcpt = "blocked@localhost",
	 .want = SMTP_REJECT, .reply = "554 5.7.2 <blocked@localhost>: Recipient address rejected: blocked"},
	{.name = "recipient OK does not beat the relay check", .conf = ACCESS, .client = "203.0.113.1",
	 .rcpt = "permit-me@other.example", .want = SMTP_REJECT, .reply = "554 5.7.1 <permit-me@other.example>: Relay access denied"},
	{.name = "non-fqdn recipient", .conf = ACCESS, .client = "127.0.0.1", .rcpt = "root",
	 .want = SMTP_REJECT, .reply = "504 5.5.2 <root>: Recipient address rejected: need fully-qualified address"},
	{.name = "plain reject", .conf = "smtpd_recipient_restrictions = reject\n", .client = "127.0.0.1",
	 .rcpt = "root@localhost", .want = SMTP_REJECT,
	 .reply = "554 5.7.1 <root@localhost>: Recipient address rejected: Access denied"},
	{.name = "permit ends only its list", .conf = "smtpd_sender_restrictions = permit\n", .client = "192.0.2.1",
	 .sender = "a@example.org", .rcpt = "x@example.com", .want = SMTP_REJECT, .reply = "554 5.7.1"},
	/* Every access map result (access(5)). */
	{.name = "map permit", .conf = ACCESS, .client = "198.51.100.8", .rcpt = "root@mx.test.example", .want = SMTP_ACCEPT},
	{.name = "map reject", .conf = ACCESS, .client = "198.51.100.9", .rcpt = "root@mx.test.example", .want = SMTP_REJECT,
	 .reply = "554 5.7.1 <unknown[198.51.100.9]>: Client host rejected: Access denied"},
	{.name = "map defer", .conf = ACCESS, .client = "198.51.100.10", .rcpt = "root@mx.test.example", .want = SMTP_REJECT,
	 .reply = "450 4.7.1 <unknown[198.51.100.10]>: Client host rejected: Access denied"},
	{.name = "map 421 disconnects", .conf = ACCESS, .client = "198.51.100.11", .rcpt = "root@mx.test.example",
	 .want = SMTP_DISCONNECT, .reply = "421 4.7.0 <unknown[198.51.100.11]>: Client host rejected: go away now"},
	{.name = "map restriction name", .conf = ACCESS, .client = "198.51.100.12", .rcpt = "x@example.com",
	 .want = SMTP_REJECT, .reply = "554 5.7.1 <x@example.com>: Relay access denied"},
	{.name = "map unknown action", .conf = ACCESS, .client = "198.51.100.13", .rcpt = "root@mx.test.example",
	 .want = SMTP_REJECT, .reply = "451 4.3.5 Server configuration error"},
	{.name = "map DUNNO goes on", .conf = ACCESS, .client = "198.51.100.14", .helo = "x.bad.example",
	 .rcpt = "root@mx.test.example", .want = SMTP_REJECT, .reply = "554 5.7.1 <x.bad.example>: Helo command rejected: go away"},
	{.name = "client name (parent domain) before address", .conf = ACCESS, .client = "198.51.100.20",
	 .client_name = "mail.friendly.example", .rcpt = "root@mx.test.example", .want = SMTP_ACCEPT},
	{.name = "client address when the name says nothing", .conf = ACCESS, .client = "198.51.100.20",
	 .client_name = "mail.other.example", .rcpt = "root@mx.test.example", .want = SMTP_REJECT,
	 .reply = "554 5.7.1 <mail.other.example[198.51.100.20]>: Client host rejected: Access denied"},
	{.name = "client map ok, relay still refused", .conf = ACCESS, .client = "192.0.2.99", .rcpt = "x@example.com",
	 .want = SMTP_REJECT, .reply = "554 5.7.1 <x@example.com>: Relay access denied"},
	/* The other restriction names. */
	{.name = "defer", .conf = "smtpd_recipient_restrictions = defer\n", .client = "127.0.0.1", .rcpt = "root@localhost",
	 .want = SMTP_REJECT, .reply = "450 4.7.1 <root@localhost>: Recipient address rejected: Try again later"},
	{.name = "reject_non_fqdn_helo_hostname", .conf = "smtpd_helo_restrictions = reject_non_fqdn_helo_hostname\n",
	 .client = "192.0.2.1", .helo = "bare", .rcpt = "root@localhost", .want = SMTP_REJECT,
	 .reply = "504 5.5.2 <bare>: Helo command rejected: need fully-qualified hostname"},
	{.name = "permit_auth_destination", .conf = "smtpd_relay_restrictions = permit_auth_destination, reject\n",
	 .client = "192.0.2.1", .rcpt = "root@localhost", .want = SMTP_ACCEPT},
	{.name = "permit_auth_destination, other domain", .conf = "smtpd_relay_restrictions = permit_auth_destination, reject\n",
	 .client = "127.0.0.1", .rcpt = "x@example.com", .want = SMTP_REJECT,
	 .reply = "554 5.7.1 <x@example.com>: Recipient address rejected: Access denied"},
	{.name = "reject_unlisted_recipient by name", .conf = "smtpd_reject_unlisted_recipient = no\n"
	 "smtpd_recipient_restrictions = reject_unlisted_recipient\n", .client = "127.0.0.1",
	 .rcpt = "nosuchuser-xyzzy@localhost", .want = SMTP_REJECT,
	 .reply = "550 5.1.1 <nosuchuser-xyzzy@localhost>: Recipient address rejected: User unknown in local recipient table"},
	{.name = "reject_unlisted_recipient, virtual", .conf = "smtpd_reject_unlisted_recipient = no\n"
	 "smtpd_recipient_restrictions = reject_unlisted_recipient\n", .client = "192.0.2.1",
	 .rcpt = "nobody@virtual.example", .want = SMTP_REJECT,
	 .reply = "550 5.1.1 <nobody@virtual.example>: Recipient address rejected: User unknown in virtual alias table"},
	{.name = "virtual catch-all", .client = "192.0.2.1", .rcpt = "anyone@catchall.example", .want = SMTP_ACCEPT},
	{.name = "reject_unauth_pipelining is accepted", .conf = "smtpd_recipient_restrictions = reject_unauth_pipelining\n",
	 .client = "192.0.2.1", .rcpt = "root@localhost", .want = SMTP_ACCEPT},
	/* The reply names what a map looked up, whatever list holds the lookup (as Postfix). */
	{.name = "sender map in recipient restrictions",
	 .conf = "smtpd_recipient_restrictions = check_sender_access texthash:%D/sender\n", .client = "127.0.0.1",
	 .sender = "spammer@example.net", .rcpt = "root@localhost", .want = SMTP_REJECT,
	 .reply = "554 5.7.1 <spammer@example.net>: Sender address rejected: Access denied"},
	{.name = "client map in recipient restrictions",
	 .conf = "smtpd_recipient_restrictions = check_client_access texthash:%D/client\n", .client = "192.0.2.5",
	 .rcpt = "root@localhost", .want = SMTP_REJECT,
	 .reply = "554 5.7.1 <unknown[192.0.2.5]>: Client host rejected: Access denied"},
	/* regexp: access maps see whole keys only (as Postfix): no parent domain, network or user@ keys. */
	{.name = "regexp client map: no parent domain or network keys",
	 .conf = "smtpd_client_restrictions = check_client_access regexp:{ {/^com/ REJECT}, {/^192\\.0\\.2$$/ REJECT} }\n",
	 .client = "192.0.2.5", .client_name = "a.example.com", .rcpt = "root@localhost", .want = SMTP_ACCEPT},
	{.name = "regexp client map: the whole name",
	 .conf = "smtpd_client_restrictions = check_client_access regexp:{ {/^a\\.example\\.com$$/ REJECT} }\n",
	 .client = "192.0.2.5", .client_name = "a.example.com", .rcpt = "root@localhost", .want = SMTP_REJECT,
	 .reply = "554 5.7.1 <a.example.com[192.0.2.5]>: Client host rejected: Access denied"},
	{.name = "regexp client map: the address",
	 .conf = "smtpd_client_restrictions = check_client_access regexp:{ {/^192\\.0\\.2\\.5$$/ 550 5.7.1 bad net} }\n",
	 .client = "192.0.2.5", .client_name = "a.example.com", .rcpt = "root@localhost", .want = SMTP_REJECT,
	 .reply = "550 5.7.1 <a.example.com[192.0.2.5]>: Client host rejected: bad net"},
	{.name = "regexp sender map: no domain or user@ keys",
	 .conf = "smtpd_sender_restrictions = check_sender_access regexp:{ {/^example\\.net$$/ REJECT}, {/^spammer@$$/ REJECT} }\n",
	 .client = "192.0.2.1", .sender = "spammer@example.net", .rcpt = "root@localhost", .want = SMTP_ACCEPT},
	{.name = "regexp sender map: the whole address, case-insensitive",
	 .conf = "smtpd_sender_restrictions = check_sender_access regexp:{ {/^spammer@example\\.net$$/ REJECT} }\n",
	 .client = "192.0.2.1", .sender = "Spammer@Example.NET", .rcpt = "root@localhost", .want = SMTP_REJECT,
	 .reply = "554 5.7.1 <Spammer@Example.NET>: Sender address rejected: Access denied"},
	{.name = "regexp helo map: no parent domains",
	 .conf = "smtpd_helo_restrictions = check_helo_access regexp:{ {/^example$$/ REJECT} }\n",
	 .client = "192.0.2.1", .helo = "mx.example", .rcpt = "root@localhost", .want = SMTP_ACCEPT},
	{.name = "plain reject names its list", .conf = "smtpd_sender_restrictions = reject\n", .client = "127.0.0.1",
	 .sender = "a@example.org", .rcpt = "root@localhost", .want = SMTP_REJECT,
	 .reply = "554 5.7.1 <a@example.org>: Sender address rejected: Access denied"},
	/* Unknown senders in our own domains. */
	{.name = "reject_unlisted_sender", .conf = "smtpd_sender_restrictions = reject_unlisted_sender\n",
	 .client = "192.0.2.1", .sender = "nosuchuser-xyzzy@localhost", .rcpt = "root@localhost", .want = SMTP_REJECT,
	 .reply = "550 5.1.0 <nosuchuser-xyzzy@localhost>: Sender address rejected: User unknown in local recipient table"},
	{.name = "reject_unlisted_sender, virtual", .conf = "smtpd_sender_restrictions = reject_unlisted_sender\n",
	 .client = "192.0.2.1", .sender = "nobody@virtual.example", .rcpt = "root@localhost", .want = SMTP_REJECT,
	 .reply = "550 5.1.0 <nobody@virtual.example>: Sender address rejected: User unknown in virtual alias table"},
	{.name = "reject_unlisted_sender, known", .conf = "smtpd_sender_restrictions = reject_unlisted_sender\n",
	 .client = "192.0.2.1", .sender = "known-alias@localhost", .rcpt = "root@localhost", .want = SMTP_ACCEPT},
	{.name = "reject_unlisted_sender, other domain", .conf = "smtpd_sender_restrictions = reject_unlisted_sender\n",
	 .client = "192.0.2.1", .sender = "anyone@example.org", .rcpt = "root@localhost", .want = SMTP_ACCEPT},
	{.name = "reject_unlisted_sender, null sender", .conf = "smtpd_sender_restrictions = reject_unlisted_sender\n",
	 .client = "192.0.2.1", .sender = "", .rcpt = "root@localhost", .want = SMTP_ACCEPT},
	{.name = "smtpd_reject_unlisted_sender", .conf = "smtpd_reject_unlisted_sender = yes\n",
	 .client = "127.0.0.1", .sender = "nosuchuser-xyzzy@localhost", .rcpt = "root@localhost", .want = SMTP_REJECT,
	 .reply = "550 5.1.0 <nosuchuser-xyzzy@localhost>: Sender address rejected"},
	{.name = "smtpd_reject_unlisted_sender, no delay", .stage = AT_MAIL,
	 .conf = NODELAY "smtpd_reject_unlisted_sender = yes\n", .client = "127.0.0.1",
	 .sender = "nosuchuser-xyzzy@localhost", .want = SMTP_REJECT,
	 .reply = "550 5.1.0 <nosuchuser-xyzzy@localhost>: Sender address rejected"},
	{.name = "smtpd_reject_unlisted_sender off", .client = "127.0.0.1", .sender = "nosuchuser-xyzzy@localhost",
	 .rcpt = "root@localhost", .want = SMTP_ACCEPT},
	/* reject_unknown_sender_domain asks no DNS for our own domains, the null sender or literals. */
	{.name = "reject_unknown_sender_domain, local", .conf = "smtpd_sender_restrictions = reject_unknown_sender_domain\n",
	 .client = "192.0.2.1", .sender = "root@localhost", .rcpt = "root@localhost", .want = SMTP_ACCEPT},
	{.name = "reject_unknown_sender_domain, null", .conf = "smtpd_sender_restrictions = reject_unknown_sender_domain\n",
	 .client = "192.0.2.1", .sender = "", .rcpt = "root@localhost", .want = SMTP_ACCEPT},
	{.name = "reject_unknown_sender_domain, literal", .conf = "smtpd_sender_restrictions = reject_unknown_sender_domain\n",
	 .client = "192.0.2.1", .sender = "a@[192.0.2.9]", .rcpt = "root@localhost", .want = SMTP_ACCEPT},
	{.name = "reject_invalid_helo_hostname is known", .conf = "smtpd_helo_restrictions = reject_invalid_helo_hostname\n",
	 .client = "192.0.2.1", .rcpt = "root@localhost", .want = SMTP_ACCEPT},
	/* smtpd_data_restrictions and smtpd_end_of_data_restrictions. */
	{.name = "data reject", .stage = AT_DATA, .nrcpt = 1, .conf = "smtpd_data_restrictions = reject\n",
	 .client = "127.0.0.1", .want = SMTP_REJECT, .reply = "554 5.7.1 <DATA>: Data command rejected: Access denied"},
	{.name = "data permit_mynetworks", .stage = AT_DATA, .nrcpt = 1,
	 .conf = "smtpd_data_restrictions = permit_mynetworks, reject\n", .client = "127.0.0.1", .want = SMTP_ACCEPT},
	{.name = "multi-recipient bounce", .stage = AT_DATA, .nrcpt = 2, .sender = "",
	 .conf = "smtpd_data_restrictions = reject_multi_recipient_bounce\n", .client = "192.0.2.1", .want = SMTP_REJECT,
	 .reply = "550 5.5.3 <DATA>: Data command rejected: Multi-recipient bounce"},
	{.name = "single-recipient bounce", .stage = AT_DATA, .nrcpt = 1, .sender = "",
	 .conf = "smtpd_data_restrictions = reject_multi_recipient_bounce\n", .client = "192.0.2.1", .want = SMTP_ACCEPT},
	{.name = "multi-recipient mail", .stage = AT_DATA, .nrcpt = 2, .sender = "a@example.org",
	 .conf = "smtpd_data_restrictions = reject_multi_recipient_bounce\n", .client = "192.0.2.1", .want = SMTP_ACCEPT},
	{.name = "data lists wait for DATA", .nrcpt = 1, .conf = "smtpd_data_restrictions = reject\n"
	 "smtpd_end_of_data_restrictions = reject\n", .client = "127.0.0.1", .rcpt = "root@localhost", .want = SMTP_ACCEPT},
	{.name = "end of data", .stage = AT_EOD, .nrcpt = 1, .conf = "smtpd_end_of_data_restrictions = defer\n",
	 .client = "127.0.0.1", .want = SMTP_REJECT, .reply = "450 4.7.1 <END-OF-MESSAGE>: End-of-data rejected: Try again later"},
	{.name = "end of data: sender map", .stage = AT_EOD, .nrcpt = 1, .sender = "spammer@example.net",
	 .conf = "smtpd_end_of_data_restrictions = check_sender_access texthash:%D/sender\n", .client = "127.0.0.1",
	 .want = SMTP_REJECT, .reply = "554 5.7.1 <spammer@example.net>: Sender address rejected: Access denied"},
	/* smtpd_delay_reject = no: each list at its own command, not again at RCPT. */
	{.name = "no delay: client at connect", .stage = AT_CONNECT, .conf = NODELAY ACCESS, .client = "192.0.2.5",
	 .want = SMTP_REJECT, .reply = "554 5.7.1 <unknown[192.0.2.5]>: Client host rejected: Access denied"},
	{.name = "no delay: client 421 at connect", .stage = AT_CONNECT, .conf = NODELAY ACCESS, .client = "198.51.100.11",
	 .want = SMTP_DISCONNECT, .reply = "421 4.7.0"},
	{.name = "no delay: helo at HELO", .stage = AT_HELO, .conf = NODELAY ACCESS, .client = "203.0.113.1",
	 .helo = "mail.bad.example", .want = SMTP_REJECT,
	 .reply = "554 5.7.1 <mail.bad.example>: Helo command rejected: go away"},
	{.name = "no delay: sender at MAIL", .stage = AT_MAIL, .conf = NODELAY ACCESS, .client = "203.0.113.1",
	 .sender = "spammer@example.net", .want = SMTP_REJECT,
	 .reply = "554 5.7.1 <spammer@example.net>: Sender address rejected: Access denied"},
	{.name = "no delay: client not again at RCPT", .conf = NODELAY ACCESS, .client = "192.0.2.5",
	 .rcpt = "root@mx.test.example", .want = SMTP_ACCEPT},
	{.name = "no delay: helo not again at RCPT", .conf = NODELAY ACCESS, .client = "203.0.113.1",
	 .helo = "mail.bad.example", .rcpt = "root@mx.test.example", .want = SMTP_ACCEPT},
	{.name = "no delay: sender not again at RCPT", .conf = NODELAY ACCESS, .client = "203.0.113.1",
	 .sender = "spammer@example.net", .rcpt = "root@mx.test.example", .want = SMTP_ACCEPT},
	{.name = "no delay: recipient at RCPT", .conf = NODELAY ACCESS, .client = "127.0.0.1",
	 .rcpt = "blocked@localhost", .want = SMTP_REJECT, .reply = "554 5.7.2 <blocked@localhost>: Recipient address rejected: blocked"},
	{.name = "delay: nothing at connect", .stage = AT_CONNECT, .conf = ACCESS, .client = "192.0.2.5", .want = SMTP_ACCEPT},
	{.name = "delay: nothing at HELO", .stage = AT_HELO, .conf = ACCESS, .client = "203.0.113.1",
	 .helo = "mail.bad.example", .want = SMTP_ACCEPT},
	{.name = "delay: nothing at MAIL", .stage = AT_MAIL, .conf = ACCESS, .client = "203.0.113.1",
	 .sender = "spammer@example.net", .want = SMTP_ACCEPT},
};

static void conf_expand(const char *conf, struct buf *out)
{
	for (const char *p = conf ? conf : ""; *p; p++) {
		if (p[0] == '%' && p[1] == 'D') {
			buf_adds(out, dir);
			p++;
		} else {
			buf_addc(out, *p);
		}
	}
}

START_TEST(test_policy)
{
	const struct policy_row *r = &policy_rows[_i];
	struct buf conf = BUF_INIT, err = BUF_INIT, reply = BUF_INIT;
	conf_expand(r->conf, &conf);
	load(buf_str(&conf));
	struct smtp_policy *p = smtp_policy_new(&err);
	ck_assert_msg(p != NULL, "%s: %s", r->name, buf_str(&err));
	struct smtp_session_info si = {
		.client_name = r->client_name ? r->client_name : "unknown",
		.client_addr = r->client,
		.helo = r->helo ? r->helo : "client.example",
		.esmtp = true,
		.sasl_username = r->sasl,
		.sender = r->sender ? r->sender : "sender@example.org",
	};
	enum smtp_verdict v = SMTP_ACCEPT;
	switch (r->stage) {
	case AT_CONNECT:
		si.helo = NULL;
		si.sender = NULL;
		v = smtp_policy_connect(p, &si, &reply);
		break;
	case AT_HELO:
		si.sender = NULL;
		v = smtp_policy_helo(p, &si, &reply);
		break;
	case AT_MAIL:
		v = smtp_policy_mail(p, &si, &reply);
		break;
	case AT_RCPT:
		v = smtp_policy_rcpt(p, &si, r->rcpt, &reply);
		break;
	case AT_DATA:
	case AT_EOD:
		v = smtp_policy_data(p, &si, r->nrcpt, r->stage == AT_EOD, &reply);
		break;
	}
	ck_assert_msg(v == r->want, "%s: verdict %d want %d (%s)", r->name, v, r->want, buf_str(&reply));
	if (r->reply != NULL)
		ck_assert_msg(strncmp(buf_str(&reply), r->reply, strlen(r->reply)) == 0,
				"%s: reply [%s] want [%s]", r->name, buf_str(&reply), r->reply);
	smtp_policy_free(p);
	buf_free(&conf);
	buf_free(&err);
	buf_free(&reply);
}
END_TEST

START_TEST(test_broken_restriction)
{
	struct buf err = BUF_INIT;
	load("smtpd_relay_restrictions = permit_mynetworks, permit_everything\n");
	ck_assert_ptr_null(smtp_policy_new(&err));
	ck_assert(strstr(buf_str(&err), "permit_everything") != NULL);
	buf_reset(&err);
	load("smtpd_recipient_restrictions = check_recipient_access\n");
	ck_assert_ptr_null(smtp_policy_new(&err));
	buf_reset(&err);
	load("mynetworks = 127.0.0.1/40\n");
	ck_assert_ptr_null(smtp_policy_new(&err));
	/* A relay_domains file or table that cannot be read: no mail, rather than wrong relaying. */
	buf_reset(&err);
	load("relay_domains = relay.example, /nonexistent/tern-relay-domains\n");
	ck_assert_ptr_null(smtp_policy_new(&err));
	ck_assert_msg(strstr(buf_str(&err), "relay_domains: /nonexistent/tern-relay-domains") != NULL, "%s", buf_str(&err));
	buf_reset(&err);
	load("relay_domains = texthash:/nonexistent/tern-relay-map\n");
	ck_assert_ptr_null(smtp_policy_new(&err));
	buf_reset(&err);
	load("relay_domains = relay.example\nrelay_recipient_maps = texthash:/nonexistent/tern-relay-rcpt\n");
	ck_assert_ptr_null(smtp_policy_new(&err));
	buf_free(&err);
}
END_TEST

START_TEST(test_vrfy)
{
	struct buf err = BUF_INIT, reply = BUF_INIT;
	load("");
	struct smtp_policy *p = smtp_policy_new(&err);
	ck_assert_ptr_nonnull(p);
	struct smtp_session_info si = {.client_name = "unknown", .client_addr = "192.0.2.1"};
	smtp_policy_vrfy(p, &si, "root@localhost", &reply);
	ck_assert_str_eq(buf_str(&reply), "252 2.0.0 root@localhost");
	smtp_policy_vrfy(p, &si, "nosuchuser-xyzzy@localhost", &reply);
	ck_assert(strncmp(buf_str(&reply), "550 5.1.1", 9) == 0);
	smtp_policy_vrfy(p, &si, "u@bücher.example", &reply);
	ck_assert_msg(strncmp(buf_str(&reply), "553 5.6.7", 9) == 0, "%s", buf_str(&reply));
	smtp_policy_free(p);
	buf_free(&err);
	buf_free(&reply);
}
END_TEST

/*
 * DNS answered by the caller (struct smtp_policy_dns): no name server is
 * asked here; the rows give the answers already known and what the
 * policy must say or ask for next.
 */
#define UNKNOWN_RCPT	"smtpd_recipient_restrictions = reject_unknown_recipient_domain, permit\n"
#define UNKNOWN_BOTH	"smtpd_sender_restrictions = reject_unknown_sender_domain\n" UNKNOWN_RCPT
static const struct dns_row {
	const char *name;
	const char *conf;
	enum stage stage;	/* AT_RCPT, AT_MAIL, AT_HELO */
	const char *sender, *rcpt;
	const char *known[3];	/* "domain=1", "domain=0", "domain=-1" */
	enum smtp_verdict want;
	const char *want_need;	/* with SMTP_PENDING */
	const char *reply;
} dns_rows[] = {
	{.name = "rcpt domain asked for", .conf = UNKNOWN_RCPT, .rcpt = "u@far.example",
	 .want = SMTP_PENDING, .want_need = "far.example"},
	{.name = "rcpt domain exists", .conf = UNKNOWN_RCPT, .rcpt = "u@far.example",
	 .known = {"far.example=1"}, .want = SMTP_ACCEPT},
	{.name = "rcpt domain unknown", .conf = UNKNOWN_RCPT, .rcpt = "u@Far.Example",
	 .known = {"far.example=0"}, .want = SMTP_REJECT,
	 .reply = "450 4.1.2 <u@Far.Example>: Recipient address rejected: Domain not found"},
	{.name = "rcpt domain, DNS failing", .conf = UNKNOWN_RCPT, .rcpt = "u@far.example",
	 .known = {"far.example=-1"}, .want = SMTP_REJECT,
	 .reply = "450 4.1.2 <u@far.example>: Recipient address rejected: Domain not found (temporary DNS failure)"},
	{.name = "our own domain needs no DNS", .conf = UNKNOWN_RCPT, .rcpt = "root@localhost", .want = SMTP_ACCEPT},
	{.name = "literal needs no DNS", .conf = UNKNOWN_RCPT, .rcpt = "u@[192.0.2.1]", .want = SMTP_ACCEPT},
	{.name = "sender first, with delay", .conf = UNKNOWN_BOTH, .sender = "s@from.example", .rcpt = "u@far.example",
	 .want = SMTP_PENDING, .want_need = "from.example"},
	{.name = "then the recipient", .conf = UNKNOWN_BOTH, .sender = "s@from.example", .rcpt = "u@far.example",
	 .known = {"from.example=1"}, .want = SMTP_PENDING, .want_need = "far.example"},
	{.name = "sender unknown decides before the recipient is looked up", .conf = UNKNOWN_BOTH,
	 .sender = "s@from.example", .rcpt = "u@far.example", .known = {"from.example=0"}, .want = SMTP_REJECT,
	 .reply = "450 4.1.8 <s@from.example>: Sender address rejected: Domain not found"},
	{.name = "both known", .conf = UNKNOWN_BOTH, .sender = "s@from.example", .rcpt = "u@far.example",
	 .known = {"from.example=1", "far.example=1"}, .want = SMTP_ACCEPT},
	{.name = "sender at MAIL without delay", .conf = NODELAY UNKNOWN_BOTH, .stage = AT_MAIL,
	 .sender = "s@from.example", .want = SMTP_PENDING, .want_need = "from.example"},
	{.name = "sender at MAIL without delay, unknown", .conf = NODELAY UNKNOWN_BOTH, .stage = AT_MAIL,
	 .sender = "s@from.example", .known = {"from.example=0"}, .want = SMTP_REJECT,
	 .reply = "450 4.1.8 <s@from.example>: Sender address rejected: Domain not found"},
	{.name = "without delay the sender is not judged again at RCPT", .conf = NODELAY UNKNOWN_BOTH,
	 .sender = "s@from.example", .rcpt = "u@far.example", .want = SMTP_PENDING, .want_need = "far.example"},
	{.name = "from an access map result", .conf = "smtpd_recipient_restrictions = check_recipient_access texthash:%D/dnsrcpt\n",
	 .rcpt = "u@far.example", .want = SMTP_PENDING, .want_need = "far.example"},
	{.name = "helo list with a sender check, without delay", .stage = AT_HELO,
	 .conf = NODELAY "smtpd_helo_restrictions = reject_unknown_sender_domain\n", .want = SMTP_ACCEPT},
};

START_TEST(test_dns_later)
{
	const struct dns_row *r = &dns_rows[_i];
	struct buf conf = BUF_INIT, err = BUF_INIT, reply = BUF_INIT;
	put("dnsrcpt", "far.example reject_unknown_recipient_domain\n");
	conf_expand(r->conf, &conf);
	load(buf_str(&conf));
	struct smtp_policy *p = smtp_policy_new(&err);
	ck_assert_msg(p != NULL, "%s: %s", r->name, buf_str(&err));
	/* From mynetworks, so that the default relay restrictions let every row through. */
	struct smtp_session_info si = {.client_name = "localhost", .client_addr = "127.0.0.1",
		.helo = "client.example", .esmtp = true, .sender = r->sender ? r->sender : ""};
	struct smtp_policy_dns d;
	smtp_policy_dns_init(&d);
	for (int i = 0; i < 3 && r->known[i] != NULL; i++) {
		const char *eq = strchr(r->known[i], '=');
		memcpy(d.known[d.n].domain, r->known[i], (size_t)(eq - r->known[i]));
		d.known[d.n].exists = atoi(eq + 1);
		d.n++;
	}
	enum smtp_verdict v = r->stage == AT_MAIL ? smtp_policy_mail_dns(p, &si, &d, &reply)
			      : r->stage == AT_HELO ? smtp_policy_helo_dns(p, &si, &d, &reply)
			      : smtp_policy_rcpt_dns(p, &si, r->rcpt, &d, &reply);
	ck_assert_msg(v == r->want, "%s: verdict %d want %d (%s)", r->name, v, r->want, buf_str(&reply));
	ck_assert_str_eq(d.need, r->want_need ? r->want_need : "");
	if (r->reply != NULL)
		ck_assert_str_eq(buf_str(&reply), r->reply);
	smtp_policy_free(p);
	buf_free(&conf);
	buf_free(&err);
	buf_free(&reply);
}
END_TEST

static const struct servers_row {
	const char *value;
	int want_rc;
	size_t want_n;
	const char *want_first;	/* "addr:port" */
} servers_rows[] = {
	{.value = "", .want_rc = 0, .want_n = 0},
	{.value = "127.0.0.1", .want_rc = 0, .want_n = 1, .want_first = "127.0.0.1:53"},
	{.value = "127.0.0.1:5353, 192.0.2.1", .want_rc = 0, .want_n = 2, .want_first = "127.0.0.1:5353"},
	{.value = "10.0.0.1 10.0.0.2 10.0.0.3", .want_rc = 0, .want_n = 3, .want_first = "10.0.0.1:53"},
	{.value = "10.0.0.1 10.0.0.2 10.0.0.3 10.0.0.4", .want_rc = -1},
	{.value = "127.0.0.1:0", .want_rc = -1},
	{.value = "127.0.0.1:65536", .want_rc = -1},
	{.value = "127.0.0.1:", .want_rc = -1},
	{.value = "127.0.0.1:53x", .want_rc = -1},
	{.value = "ns.example", .want_rc = -1},
	{.value = "::1", .want_rc = -1},
};

START_TEST(test_dns_servers)
{
	const struct servers_row *r = &servers_rows[_i];
	struct sockaddr_in sin[SMTP_POLICY_DNS_SERVERS];
	size_t n = 99;
	struct buf err = BUF_INIT;
	int rc = smtp_policy_dns_servers(r->value, sin, &n, &err);
	ck_assert_msg(rc == r->want_rc, "[%s]: rc %d (%s)", r->value, rc, buf_str(&err));
	ck_assert_msg(rc < 0 || err.len == 0, "[%s]: %s", r->value, buf_str(&err));
	ck_assert_msg(rc == 0 || err.len > 0, "[%s]: no reason", r->value);
	if (rc == 0)
		ck_assert_uint_eq(n, r->want_n);
	if (r->want_first != NULL) {
		char text[64], a[32];
		inet_ntop(AF_INET, &sin[0].sin_addr, a, sizeof(a));
		snprintf(text, sizeof(text), "%s:%u", a, ntohs(sin[0].sin_port));
		ck_assert_str_eq(text, r->want_first);
	}
	buf_free(&err);
}
END_TEST

/* A bad smtpd_dns_servers is a configuration error, never the system's resolver by surprise. */
START_TEST(test_dns_servers_conf)
{
	struct buf err = BUF_INIT;
	load("smtpd_dns_servers = resolver.example\n");
	ck_assert_ptr_null(smtp_policy_new(&err));
	ck_assert(strstr(buf_str(&err), "smtpd_dns_servers") != NULL);
	buf_free(&err);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(void)
{
	Suite *s = suite_create("smtp_policy");
	TCase *tc = tcase_create("policy");
	tcase_add_loop_test(tc, test_cidr, 0, N(cidr_rows));
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_policy, 0, N(policy_rows));
	tcase_add_test(tc, test_broken_restriction);
	tcase_add_test(tc, test_vrfy);
	tcase_add_loop_test(tc, test_dns_later, 0, N(dns_rows));
	tcase_add_loop_test(tc, test_dns_servers, 0, N(servers_rows));
	tcase_add_test(tc, test_dns_servers_conf);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
