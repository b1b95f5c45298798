/*
 * cidr.h - lists of IP networks ("127.0.0.0/8, [::1]/128, 192.0.2.7")
 * and matching addresses against them, as Postfix's mynetworks.
 *
 * Generic utility layer, pure functions, no privileges. Accepted forms:
 * a.b.c.d, a.b.c.d/n, ipv6, ipv6/n, [ipv6], [ipv6]/n; a bare address is
 * a /32 or /128. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) match IPv4
 * networks.
 */
#ifndef TERN_UTIL_CIDR_H
#define TERN_UTIL_CIDR_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

struct cidr {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char addr[16];		/* network, host bits cleared */
	unsigned prefix;
};

struct cidr_list {
	struct cidr *nets;
	size_t count;
};

/* Parse one network; false when malformed. */
bool cidr_parse(const char *text, struct cidr *out);
/*
 * Add the networks of items (a NULL-terminated list, e.g. cfg_list()
 * output) to list. Items that are not networks are skipped with a
 * reason appended to err (if err is not NULL); returns how many failed.
 */
int cidr_list_add(struct cidr_list *list, char **items, struct buf *err);
void cidr_list_free(struct cidr_list *list);
/* Does the textual address ("192.0.2.1", "::1") fall in one of the networks? */
bool cidr_list_match(const struct cidr_list *list, const char *addr);

#endif
