/*
 * domain_list.h - a list of domains as main.cf writes one (relay_domains):
 * domain names, "/file" names and "type:table" maps, matched the way
 * Postfix matches them with parent_domain_matches_subdomains (its
 * default for relay_domains).
 *
 * Mail layer; no privileges of its own. Runs in the calling process
 * (smtpd) and reads the files and tables the list names, once when it
 * is opened (tables are looked up each time).
 *
 * Matching a domain d (lower case, trailing dot ignored), items in order,
 * the first that matches decides:
 *	example.com	d is example.com or any subdomain of it
 *	.example.com	d is a subdomain of example.com (not example.com)
 *	!pattern	d matches pattern: the list does NOT match (stop)
 *	/path/name	the words of the file (white space or commas apart,
 *			"#" starts a comment), as items of their own
 *	type:name	d found in the table, else each parent domain of d
 *			(a.b.example.com: b.example.com, example.com, com)
 *
 *	struct domain_list *l = domain_list_open(cfg_str(P_relay_domains), &err);
 *	int rc = domain_list_match(l, "mx.example.com");	// 1, 0, or -1
 */
#ifndef TERN_MAIL_DOMAIN_LIST_H
#define TERN_MAIL_DOMAIN_LIST_H

#include <stdbool.h>

#include "util/buf.h"

struct domain_list;

/*
 * Parse value (a parameter's expanded text) and open what it names.
 * NULL with one line in err when a file cannot be read or a table
 * cannot be opened. An empty value gives a list that matches nothing.
 */
struct domain_list *domain_list_open(const char *value, struct buf *err);
void domain_list_free(struct domain_list *l);
/* 1 domain matches, 0 it does not, -1 a table lookup failed (err says why). */
int domain_list_match(struct domain_list *l, const char *domain, struct buf *err);
/* True when the list matches nothing whatever the domain (an empty value). */
bool domain_list_empty(const struct domain_list *l);
/* True when one of its tables was rebuilt since it was opened (map_changed). */
bool domain_list_changed(struct domain_list *l);

#endif
