/*
 * tls_proto.c - the parser of Postfix's TLS protocol lists (tls_proto.h).
 *
 * Mail layer; no privileges. Reads only the configured text.
 */
#include "compat.h"

#include <string.h>
#include <strings.h>

#include "mail/tls_proto.h"

static const struct {
	const char *name;
	unsigned bit;
} protocols[] = {
	{"SSLv2", TLS_PROTO_SSLv2},
	{"SSLv3", TLS_PROTO_SSLv3},
	{"TLSv1", TLS_PROTO_TLSv1},
	{"TLSv1.1", TLS_PROTO_TLSv1_1},
	{"TLSv1.2", TLS_PROTO_TLSv1_2},
	{"TLSv1.3", TLS_PROTO_TLSv1_3},
};
#define NPROTOCOLS (sizeof(protocols) / sizeof(protocols[0]))

/* The bit of a protocol name of len bytes, 0 if unknown. */
static unsigned protocol_bit(const char *name, size_t len)
{
	for (size_t i = 0; i < NPROTOCOLS; i++)
		if (strlen(protocols[i].name) == len && strncasecmp(protocols[i].name, name, len) == 0)
			return protocols[i].bit;
	return 0;
}

int tls_protocols_parse(const char *spec, unsigned *allowed, struct buf *why)
{
	static const char sep[] = ", \t\r\n:";
	unsigned include = 0, exclude = 0;
	unsigned floor = TLS_PROTO_SSLv2, ceiling = TLS_PROTO_TLSv1_3;	/* bits, lowest is oldest */

	for (const char *p = spec ? spec : ""; *p;) {
		p += strspn(p, sep);
		size_t n = strcspn(p, sep);
		if (n == 0)
			break;
		const char *name = p;
		size_t len = n;
		char op = 0;
		if (*name == '!') {
			op = '!';
			name++, len--;
		} else if (len >= 2 && (strncmp(name, ">=", 2) == 0 || strncmp(name, "<=", 2) == 0)) {
			op = *name;
			name += 2, len -= 2;
		}
		unsigned bit = protocol_bit(name, len);
		if (bit == 0) {
			buf_printf(why, "unknown TLS protocol \"%.*s\" (known: SSLv2, SSLv3, TLSv1, "
				   "TLSv1.1, TLSv1.2, TLSv1.3, each alone or after !, >= or <=)",
				   (int)(n > 40 ? 40 : n), p);
			return -1;
		}
		if (op == '!')
			exclude |= bit;
		else if (op == '>')
			floor = bit;
		else if (op == '<')
			ceiling = bit;
		else
			include |= bit;
		p += n;
	}
	unsigned set = (include ? include : TLS_PROTO_ALL) & ~exclude;
	/* The bits from floor up to ceiling: (2 * ceiling - 1) clears those above. */
	set &= ~(floor - 1) & (2 * ceiling - 1);
	set &= TLS_PROTO_TERN;
	if (set == 0) {
		buf_adds(why, "no TLS protocol left that Tern speaks (TLSv1.2, TLSv1.3)");
		return -1;
	}
	*allowed = set;
	return 0;
}
