/*
 * tls_proto.h - Postfix's TLS protocol lists (smtpd_tls_protocols,
 * smtpd_tls_mandatory_protocols): ">=TLSv1.2", "<=TLSv1.3",
 * "!SSLv2, !SSLv3, !TLSv1", "TLSv1.2 TLSv1.3", items separated by
 * commas, white space or colons.
 *
 * Mail layer; no privileges, no OpenSSL: the config check (param_value.c)
 * and smtpd's TLS context (smtpd_tls.c) share the one parser.
 */
#ifndef TERN_MAIL_TLS_PROTO_H
#define TERN_MAIL_TLS_PROTO_H

#include "util/buf.h"

#define TLS_PROTO_SSLv2		0x01
#define TLS_PROTO_SSLv3		0x02
#define TLS_PROTO_TLSv1		0x04
#define TLS_PROTO_TLSv1_1	0x08
#define TLS_PROTO_TLSv1_2	0x10
#define TLS_PROTO_TLSv1_3	0x20
#define TLS_PROTO_ALL		0x3f
/* What Tern ever speaks: older versions are broken, whatever a list says. */
#define TLS_PROTO_TERN		(TLS_PROTO_TLSv1_2 | TLS_PROTO_TLSv1_3)

/*
 * The protocols spec allows, as TLS_PROTO_* bits, in *allowed (already
 * narrowed to TLS_PROTO_TERN). As in Postfix: names listed plainly are
 * the only ones allowed (none listed: all), "!name" takes one away,
 * ">=name" and "<=name" bound the range. An empty spec allows all.
 * Returns 0, or -1 with a reason in why: an unknown name, or a list
 * that leaves no protocol Tern speaks.
 */
int tls_protocols_parse(const char *spec, unsigned *allowed, struct buf *why);

#endif
