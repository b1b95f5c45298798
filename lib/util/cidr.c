/*
 * cidr.c - IP network lists and matching (cidr.h).
 * Generic utility layer; pure functions on configuration text and peer
 * addresses, no privileges.
 */
#include "compat.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "util/cidr.h"
#include "util/mem.h"

static void clear_host_bits(struct cidr *c)
{
	unsigned bytes = c->family == AF_INET ? 4 : 16;
	for (unsigned i = 0; i < bytes; i++) {
		unsigned bit = i * 8;
		if (bit >= c->prefix)
			c->addr[i] = 0;
		else if (bit + 8 > c->prefix)
			c->addr[i] &= (unsigned char)(0xff << (8 - (c->prefix - bit)));
	}
}

bool cidr_parse(const char *text, struct cidr *out)
{
	char host[64];
	const char *slash = strchr(text, '/');
	size_t hlen = slash ? (size_t)(slash - text) : strlen(text);

	if (hlen == 0 || hlen >= sizeof(host))
		return false;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	char *h = host;
	if (h[0] == '[') {
		if (h[hlen - 1] != ']')
			return false;
		h[hlen - 1] = '\0';
		h++;
	}
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, h, out->addr) == 1) {
		out->family = AF_INET;
		out->prefix = 32;
	} else if (inet_pton(AF_INET6, h, out->addr) == 1) {
		out->family = AF_INET6;
		out->prefix = 128;
	} else {
		return false;
	}
	if (slash != NULL) {
		char *end;
		if (slash[1] < '0' || slash[1] > '9')
			return false;
		unsigned long p = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || p > out->prefix)
			return false;
		out->prefix = (unsigned)p;
	}
	clear_host_bits(out);
	return true;
}

int cidr_list_add(struct cidr_list *list, char **items, struct buf *err)
{
	int bad = 0;
	for (size_t i = 0; items != NULL && items[i] != NULL; i++) {
		struct cidr c;
		if (!cidr_parse(items[i], &c)) {
			if (err != NULL)
				buf_printf(err, "%snot a network: %s", err->len ? "; " : "", items[i]);
			bad++;
			continue;
		}
		list->nets = xreallocarray(list->nets, list->count + 1, sizeof(*list->nets));
		list->nets[list->count++] = c;
	}
	return bad;
}

void cidr_list_free(struct cidr_list *list)
{
	free(list->nets);
	list->nets = NULL;
	list->count = 0;
}

static bool in_net(const struct cidr *net, const unsigned char *addr)
{
	unsigned full = net->prefix / 8, rest = net->prefix % 8;
	if (memcmp(net->addr, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (addr[full] & mask) == net->addr[full];
}

bool cidr_list_match(const struct cidr_list *list, const char *addr)
{
	unsigned char a4[4], a6[16];
	bool is4 = inet_pton(AF_INET, addr, a4) == 1;
	bool is6 = !is4 && inet_pton(AF_INET6, addr, a6) == 1;
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (is6 && memcmp(a6, mapped, 12) == 0) {
		memcpy(a4, a6 + 12, 4);
		is4 = true;
	}
	for (size_t i = 0; i < list->count; i++) {
		const struct cidr *n = &list->nets[i];
		if (n->family == AF_INET && is4 && in_net(n, a4))
			return true;
		if (n->family == AF_INET6 && is6 && in_net(n, a6))
			return true;
	}
	return false;
}
