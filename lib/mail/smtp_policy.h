/*
 * smtp_policy.h - smtpd's access policy: Postfix's restriction lists
 * (smtpd_client_restrictions, smtpd_helo_restrictions,
 * smtpd_sender_restrictions, smtpd_relay_restrictions,
 * smtpd_recipient_restrictions, smtpd_data_restrictions,
 * smtpd_end_of_data_restrictions), mynetworks, and the refusal of
 * unknown recipients at RCPT time.
 *
 * relay_domains (domains anyone may send mail to through this host) and
 * relay_recipient_maps (who exists there) belong here too.
 *
 * Mail layer. Runs inside smtpd as mail_owner; reads the access maps
 * named in the restrictions, asks the policy servers named by
 * check_policy_service (policy_client.h; like the DNS, from a thread of
 * the caller's when it must not block), reads virtual_alias_maps, the
 * files and tables of relay_domains, relay_recipient_maps and, through
 * resolve_address(), alias_maps and the password database. No DNS unless
 * reject_unknown_recipient_domain or reject_unknown_sender_domain is
 * configured; then the lookups can be done by the caller, on a thread of
 * its own (struct smtp_policy_dns), so that an event loop never waits
 * for a name server.
 *
 * With smtpd_delay_reject = yes (the default, as in Postfix) the client,
 * HELO and sender restrictions are evaluated at RCPT time, so that the
 * log line names the recipient; with "no" at connect, HELO and MAIL FROM.
 */
#ifndef TERN_MAIL_SMTP_POLICY_H
#define TERN_MAIL_SMTP_POLICY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "mail/policy_client.h"
#include "mail/smtp_engine.h"
#include "util/buf.h"

struct smtp_policy;

/*
 * The DNS answers behind one decision. A caller that must not block
 * evaluates with one of the *_dns functions below: when an answer is
 * missing, they return SMTP_PENDING with the domain in need. The caller
 * then runs smtp_policy_dns_lookup(), which needs nothing but this
 * struct (so any thread may run it, even after the policy was rebuilt),
 * and evaluates again with the same struct: the answers are kept, and a
 * decision needs at most one lookup per domain. Zero it (or
 * smtp_policy_dns_init) before the first evaluation.
 */
#define SMTP_POLICY_DNS_MAX		4	/* answers kept (a decision needs at most 2) */
#define SMTP_POLICY_DNS_SERVERS		3	/* glibc's MAXNS */
#define SMTP_POLICY_SVC_MAX		4	/* check_policy_service answers per command */
struct smtp_policy_dns {
	/*
	 * check_policy_service works the same way: SMTP_PENDING with a
	 * request (malloc'ed, owned here) for the server in svc; the lookup
	 * function makes the round trip (or takes svc's default action when
	 * the server fails) and keeps the action for key. Unlike domains,
	 * actions hold for one command only: smtp_policy_dns_command()
	 * forgets them before the next.
	 */
	char *request;				/* NULL: no policy query needed */
	int request_key;
	struct policy_target svc;
	size_t nanswers;
	struct {
		int key;
		char action[1024];
	} answers[SMTP_POLICY_SVC_MAX];
	char need[256];				/* the domain to look up; "" = none */
	size_t n;
	struct {
		char domain[256];
		int exists;			/* 1 yes, 0 no, -1 temporary failure */
	} known[SMTP_POLICY_DNS_MAX];
};
void smtp_policy_dns_init(struct smtp_policy_dns *d);
/*
 * Look up d->need (MX, then A, then AAAA), record the answer, clear
 * need; or ask the policy server d->request is for, record its action,
 * free the request. Thread-safe; blocks (up to the server's timeout).
 */
void smtp_policy_dns_lookup(struct smtp_policy_dns *d);
/* Before a new command: forget policy actions and any request not made. */
void smtp_policy_dns_command(struct smtp_policy_dns *d);
/* Free what d owns (a request not made); d stays usable. */
void smtp_policy_dns_release(struct smtp_policy_dns *d);
/*
 * Parse smtpd_dns_servers: up to three IPv4 addresses, each with an
 * optional ":port". 0, or -1 with one line in err.
 */
int smtp_policy_dns_servers(const char *value, struct sockaddr_in *out, size_t *n, struct buf *err);

/*
 * Build the policy from the loaded configuration. Settings are NULL for
 * main.cf's values, or a service's overrides. Returns NULL with one line
 * in err when a restriction or map cannot be used (smtpd then refuses
 * mail with 451 4.3.5 rather than relaying by mistake); the line names
 * main.cf and the line of the parameter when main.cf sets it.
 */
struct smtp_policy *smtp_policy_new(struct buf *err);
void smtp_policy_free(struct smtp_policy *p);
/*
 * Syntax of one restriction list (param is its name, for messages):
 * known restriction names, a type:table of a known type after each
 * check_*_access, a valid target after check_policy_service. Opens
 * nothing. 0, or -1 with one line in err ("param: ...").
 */
int smtp_policy_list_check(const char *param, const char *value, struct buf *err);
/* Is name one of the restriction list parameters (smtpd_*_restrictions)? */
bool smtp_policy_is_list(const char *name);
/*
 * True when a table of the policy (an access map, virtual_alias_maps)
 * was rebuilt since it was opened: build a new policy to see the new
 * contents (a stat() per table; smtpd asks once a second).
 */
bool smtp_policy_changed(const struct smtp_policy *p);

/* Is addr ("192.0.2.1", "::1") in mynetworks? */
bool smtp_policy_mynetworks(const struct smtp_policy *p, const char *addr);

/*
 * The verdicts below: on SMTP_REJECT and SMTP_DISCONNECT reply holds the
 * reply line; on SMTP_ACCEPT it holds the header lines that PREPEND
 * actions asked for ("Name: value\n" each; empty when none), which the
 * caller adds to the message of the transaction (MAIL and RCPT only).
 */
/* smtpd_client_restrictions at connect time (only with smtpd_delay_reject = no). */
enum smtp_verdict smtp_policy_connect(struct smtp_policy *p, const struct smtp_session_info *si,
		struct buf *reply);
/* smtpd_helo_restrictions at HELO/EHLO (only with smtpd_delay_reject = no; si->helo is the new name). */
enum smtp_verdict smtp_policy_helo(struct smtp_policy *p, const struct smtp_session_info *si,
		struct buf *reply);
/* smtpd_sender_restrictions at MAIL FROM (only with smtpd_delay_reject = no; si->sender is set). */
enum smtp_verdict smtp_policy_mail(struct smtp_policy *p, const struct smtp_session_info *si,
		struct buf *reply);
/*
 * Everything that decides one recipient: the restrictions (with
 * smtpd_delay_reject = yes also the client, HELO and sender ones), then
 * unknown users.
 */
enum smtp_verdict smtp_policy_rcpt(struct smtp_policy *p, const struct smtp_session_info *si,
		const char *rcpt, struct buf *reply);
/*
 * The same three with the DNS answers in dns (see struct
 * smtp_policy_dns): SMTP_PENDING when one is missing. The functions
 * above look domains up themselves, on the caller's thread.
 */
enum smtp_verdict smtp_policy_helo_dns(struct smtp_policy *p, const struct smtp_session_info *si,
		struct smtp_policy_dns *dns, struct buf *reply);
enum smtp_verdict smtp_policy_mail_dns(struct smtp_policy *p, const struct smtp_session_info *si,
		struct smtp_policy_dns *dns, struct buf *reply);
enum smtp_verdict smtp_policy_rcpt_dns(struct smtp_policy *p, const struct smtp_session_info *si,
		const char *rcpt, struct smtp_policy_dns *dns, struct buf *reply);
/*
 * smtpd_data_restrictions at DATA (and the first BDAT), or with end
 * smtpd_end_of_data_restrictions once the content is in; nrcpt is the
 * number of accepted recipients.
 */
enum smtp_verdict smtp_policy_data(struct smtp_policy *p, const struct smtp_session_info *si,
		size_t nrcpt, bool end, struct buf *reply);
/* The VRFY answer for addr (250/252 or 550). */
void smtp_policy_vrfy(struct smtp_policy *p, const struct smtp_session_info *si,
		const char *addr, struct buf *reply);

/* Does the local part carry routing (%, !, @), which only trusted clients may use? */
bool smtp_policy_has_routing(const char *addr);

#endif
