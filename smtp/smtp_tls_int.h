/*
 * smtp_tls_int.h - what the two halves of the SMTP client's TLS
 * (smtp_tls_policy.c, smtp_tls.c) share and nobody else needs.
 *
 * Part of smtp/smtp, runs as mail_owner.
 */
#ifndef TERN_SMTP_TLS_INT_H
#define TERN_SMTP_TLS_INT_H

#include <stdbool.h>
#include <stddef.h>

#if defined(__has_include)
#if __has_include("mail/dns.h")
#include "mail/dns.h"
#define SMTP_TLS_HAVE_DNS_H 1
#endif
#endif
#ifndef SMTP_TLS_HAVE_DNS_H
/* Until lib/mail/dns.h is there: the same layout. */
struct dns_tlsa {
	unsigned char usage, selector, mtype;
	unsigned char *data;
	size_t len;
};
#endif

/* A known cipher grade (high, medium, low, export, null)? */
int smtp_tls_grade_ok(const char *grade);
/* A TLSA record RFC 7672 lets SMTP use (usage 2 or 3, sane selector, type, length)? */
bool smtp_tls_tlsa_is_usable(const struct dns_tlsa *t);
size_t smtp_tls_tlsa_usable(const struct dns_tlsa *tlsa, size_t ntlsa);
/* Forget the opened smtp_tls_policy_maps (tests; smtp_tls_shutdown). */
void smtp_tls_policy_maps_close(void);

#endif
