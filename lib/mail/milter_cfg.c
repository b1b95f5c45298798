/*
 * milter_cfg.c - smtpd_milters, non_smtpd_milters and the milter_*
 * parameters parsed into a struct milter_cfg (see milter_cfg.h).
 *
 * Mail layer, no I/O and no privileges of its own: it runs in whatever
 * reads the configuration (smtpd and pickup as mail_owner, tern check as
 * its caller). Every word that does not parse is an error naming the
 * parameter and the word, so that a daemon refuses to start instead of
 * passing mail unfiltered, and tern check can say where.
 *
 * Choices that are Tern's own (Postfix would accept these):
 *   - a port must be a number from 1 to 65535, not a service name;
 *   - a unix socket's path must be absolute: the daemons run in
 *     queue_directory, and a relative path there is rarely what was meant;
 *   - an IPv6 address after inet: must be in brackets, so that the last
 *     colon is always the port's;
 *   - a timeout longer than INT_MAX milliseconds (about 24 days) is cut
 *     to that, the longest a poll() can wait.
 */
#include "compat.h"

#include <ctype.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/config.h"
#include "mail/milter_cfg.h"
#include "util/mem.h"

static unsigned secs_to_ms(long long s)
{
	if (s < 0)
		return 0;
	if (s > INT_MAX / 1000)
		return INT_MAX;
	return (unsigned)(s * 1000);
}

static int parse_action(const char *word, enum milter_default *out)
{
	static const struct {
		const char *name;
		enum milter_default action;
	} actions[] = {
		{ "accept", MILTER_DEF_ACCEPT }, { "reject", MILTER_DEF_REJECT },
		{ "tempfail", MILTER_DEF_TEMPFAIL }, { "quarantine", MILTER_DEF_QUARANTINE },
	};
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strcasecmp(word, actions[i].name) == 0) {
			*out = actions[i].action;
			return 0;
		}
	return -1;
}

/* Host names and address literals only: no blanks, no quoting, no brackets left. */
static bool host_ok(const char *h)
{
	if (*h == '\0')
		return false;
	for (const char *p = h; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr(".-_:%", *p) == NULL)
			return false;
	return true;
}

static int parse_port(const char *text, unsigned *port)
{
	unsigned long n = 0;
	if (*text == '\0' || strlen(text) > 5)
		return -1;
	for (const char *p = text; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		n = n * 10 + (unsigned long)(*p - '0');
	}
	if (n < 1 || n > 65535)
		return -1;
	*port = (unsigned)n;
	return 0;
}

/* "host:port" or "[addr]:port" after inet: or inet6:. */
static int parse_inet(const char *word, const char *rest, bool v6, struct milter_spec *m,
		      struct buf *err)
{
	const char *colon, *host_start, *host_end;

	if (*rest == '[') {
		host_start = rest + 1;
		host_end = strchr(host_start, ']');
		if (host_end == NULL) {
			buf_printf(err, "missing ] in \"%s\"", word);
			return -1;
		}
		colon = host_end + 1;
		if (*colon != ':') {
			buf_printf(err, "missing :port after ] in \"%s\"", word);
			return -1;
		}
	} else {
		host_start = rest;
		colon = strrchr(rest, ':');
		if (colon == NULL) {
			buf_printf(err, "missing :port in \"%s\" (expected %s:host:port)", word,
				   v6 ? "inet6" : "inet");
			return -1;
		}
		host_end = colon;
		if (!v6 && memchr(host_start, ':', (size_t)(host_end - host_start)) != NULL) {
			buf_printf(err, "an IPv6 address must be in brackets in \"%s\" (inet:[addr]:port)", word);
			return -1;
		}
	}
	m->host = xstrndup(host_start, (size_t)(host_end - host_start));
	if (!host_ok(m->host)) {
		buf_printf(err, "bad host \"%s\" in \"%s\"", m->host, word);
		return -1;
	}
	if (parse_port(colon + 1, &m->port) < 0) {
		buf_printf(err, "bad port \"%s\" in \"%s\" (expected a number from 1 to 65535)", colon + 1, word);
		return -1;
	}
	m->kind = v6 || strchr(m->host, ':') != NULL ? MILTER_SOCK_INET6 : MILTER_SOCK_INET;
	return 0;
}

/* One milter's address: unix:/path, local:/path, /path, inet:..., inet6:... */
static int parse_endpoint(const char *word, struct milter_spec *m, struct buf *err)
{
	const char *path = NULL;

	if (strncasecmp(word, "unix:", 5) == 0)
		path = word + 5;
	else if (strncasecmp(word, "local:", 6) == 0)
		path = word + 6;
	else if (word[0] == '/')
		path = word;
	else if (strncasecmp(word, "inet:", 5) == 0)
		return parse_inet(word, word + 5, false, m, err);
	else if (strncasecmp(word, "inet6:", 6) == 0)
		return parse_inet(word, word + 6, true, m, err);
	else {
		buf_printf(err, "unknown milter address \"%s\" (expected unix:/path, inet:host:port or inet6:[addr]:port)",
			   word);
		return -1;
	}
	if (*path == '\0') {
		buf_printf(err, "empty socket path in \"%s\"", word);
		return -1;
	}
	if (*path != '/') {
		buf_printf(err, "socket path \"%s\" is relative in \"%s\" (it must start with /)", path, word);
		return -1;
	}
	m->kind = MILTER_SOCK_UNIX;
	m->path = xstrdup(path);
	return 0;
}

static int set_time(const char *setting, const char *value, const char *param, unsigned *ms,
		    struct buf *err)
{
	const struct param_def *p = param_find(param);
	long long s;
	if (param_parse_time(value, 's', &s) < 0 || (p != NULL && (s < p->min || s > p->max))) {
		buf_printf(err, "bad %s \"%s\" (expected a time: a number with unit s, m, h, d or w; default s", setting,
			   value);
		if (p != NULL)
			buf_printf(err, "; from %llds to %llds", p->min, p->max);
		buf_addc(err, ')');
		return -1;
	}
	*ms = secs_to_ms(s);
	return 0;
}

/* One name = value of a { ... } group. */
static int apply_setting(struct milter_spec *m, const char *name, const char *value, struct buf *err)
{
	if (strcmp(name, "connect_timeout") == 0)
		return set_time(name, value, P_milter_connect_timeout, &m->connect_timeout_ms, err);
	if (strcmp(name, "command_timeout") == 0)
		return set_time(name, value, P_milter_command_timeout, &m->command_timeout_ms, err);
	if (strcmp(name, "content_timeout") == 0)
		return set_time(name, value, P_milter_content_timeout, &m->content_timeout_ms, err);
	if (strcmp(name, "default_action") == 0) {
		if (parse_action(value, &m->default_action) == 0)
			return 0;
		buf_printf(err, "bad default_action \"%s\" (expected accept, reject, tempfail or quarantine)", value);
		return -1;
	}
	if (strcmp(name, "protocol") == 0) {
		long long v;
		if (param_parse_int(value, &v) == 0 && v >= 2 && v <= 6) {
			m->protocol = (unsigned)v;
			return 0;
		}
		buf_printf(err, "bad protocol \"%s\" (expected a version from 2 to 6)", value);
		return -1;
	}
	buf_printf(err, "unknown setting \"%s\" (expected connect_timeout, command_timeout, content_timeout, default_action or protocol)",
		   name);
	return -1;
}

/*
 * "{ address, name = value, ... }": the address first, then settings
 * written name=value, name = value or name= value, separated by commas
 * or white space.
 */
static int parse_group(const char *item, struct milter_spec *m, struct buf *err)
{
	size_t len = strlen(item);
	char *body = xstrndup(item + 1, len - 2);
	char **w = config_split_list(body);
	int rc = -1;

	free(body);
	if (w[0] == NULL) {
		buf_printf(err, "empty group \"%s\"", item);
		goto out;
	}
	if (strchr(w[0], '=') != NULL ||
	    (strpbrk(w[0], ":/") == NULL && w[1] != NULL && w[1][0] == '=')) {
		buf_printf(err, "\"%s\" where a milter address must come first in \"%s\"", w[0], item);
		goto out;
	}
	for (size_t i = 0; w[i] != NULL; i++)
		if (strchr(w[i], '{') != NULL || strchr(w[i], '}') != NULL) {
			buf_printf(err, "unexpected brace in \"%s\" in \"%s\"", w[i], item);
			goto out;
		}
	if (parse_endpoint(w[0], m, err) < 0)
		goto out;
	m->name = xstrdup(w[0]);
	for (size_t i = 1; w[i] != NULL; i++) {
		char *eq = strchr(w[i], '=');
		char *name, *value;
		if (eq == NULL) {
			/* name = value, or name =value */
			if (w[i + 1] == NULL || w[i + 1][0] != '=') {
				buf_printf(err, "\"%s\" is not name = value in \"%s\"", w[i], item);
				goto out;
			}
			name = w[i];
			i++;
			value = w[i] + 1;
		} else {
			*eq = '\0';
			name = w[i];
			value = eq + 1;
		}
		if (*name == '\0') {
			buf_printf(err, "= without a name in \"%s\"", item);
			goto out;
		}
		if (*value == '\0') {
			/* name= value */
			if (w[i + 1] == NULL || strchr(w[i + 1], '=') != NULL) {
				buf_printf(err, "no value for %s in \"%s\"", name, item);
				goto out;
			}
			value = w[++i];
		}
		if (apply_setting(m, name, value, err) < 0)
			goto out;
	}
	rc = 0;
out:
	config_free_list(w);
	return rc;
}

/* A { ... } item must close exactly at its end. */
static int check_braces(const char *item, struct buf *err)
{
	int level = 0;
	if (item[0] != '{' && strchr(item, '{') != NULL) {
		buf_printf(err, "unexpected { in \"%s\"", item);
		return -1;
	}
	for (const char *p = item; *p != '\0'; p++) {
		if (*p == '{')
			level++;
		else if (*p == '}') {
			if (level == 0) {
				buf_printf(err, "unbalanced } in \"%s\"", item);
				return -1;
			}
			level--;
			if (level == 0 && p[1] != '\0') {
				buf_printf(err, "\"%s\" after } in \"%s\"", p + 1, item);
				return -1;
			}
		}
	}
	if (level > 0) {
		buf_printf(err, "unbalanced { in \"%s\" (missing })", item);
		return -1;
	}
	return 0;
}

int milter_cfg_parse_list(const char *list, const struct milter_spec *defaults,
			  struct milter_cfg *out, struct buf *err)
{
	char **items = config_split_list(list);
	size_t n = 0;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	while (items[n] != NULL)
		n++;
	out->v = n > 0 ? xcalloc(n, sizeof(*out->v)) : NULL;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct milter_spec *m = &out->v[out->n++];
		*m = *defaults;
		m->name = m->path = m->host = NULL;
		m->port = 0;
		if (check_braces(items[i], err) < 0)
			rc = -1;
		else if (items[i][0] == '{')
			rc = parse_group(items[i], m, err);
		else if ((rc = parse_endpoint(items[i], m, err)) == 0)
			m->name = xstrdup(items[i]);
	}
	config_free_list(items);
	if (rc < 0)
		milter_cfg_free(out);
	return rc;
}

/*
 * A macro name as milters see it: one character bare ("j", also from
 * "{j}"), longer ones in braces ("{daemon_name}", also from
 * "daemon_name"), so that lists, defaults and SETSYMLIST compare alike.
 * NULL when it is no macro name.
 */
static char *macro_name(const char *text, size_t len)
{
	if (len >= 2 && text[0] == '{' && text[len - 1] == '}') {
		text++;
		len -= 2;
	}
	if (len == 0)
		return NULL;
	for (size_t i = 0; i < len; i++)
		if (!isgraph((unsigned char)text[i]) || strchr("{}=,$", text[i]) != NULL)
			return NULL;
	if (len == 1)
		return xstrndup(text, 1);
	return xasprintf("{%.*s}", (int)len, text);
}

static void where(struct buf *err, const char *param)
{
	unsigned line = cfg_line(param);
	if (line > 0)
		buf_printf(err, "%s, line %u: ", config_file(), line);
	buf_printf(err, "%s: ", param);
}

static int parse_macros(const char *param, char ***out, struct buf *err)
{
	char **items = config_split_list(cfg_str(param));
	size_t n = 0;

	while (items[n] != NULL)
		n++;
	*out = xcalloc(n + 1, sizeof(**out));
	for (size_t i = 0; i < n; i++) {
		(*out)[i] = macro_name(items[i], strlen(items[i]));
		if ((*out)[i] == NULL) {
			where(err, param);
			buf_printf(err, "bad macro name \"%s\" (expected a name, or {name})", items[i]);
			config_free_list(items);
			return -1;
		}
	}
	config_free_list(items);
	return 0;
}

static size_t trim(const char *s, size_t len, const char **start)
{
	while (len > 0 && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	*start = s;
	return len;
}

/* The } that closes the { at s[0], or NULL. */
static const char *matching_brace(const char *s)
{
	int level = 0;
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '{')
			level++;
		else if (*p == '}' && --level == 0)
			return p;
	}
	return NULL;
}

/*
 * milter_macro_defaults: name=value, {name}=value, or a whole pair in
 * braces, "{ name = value with blanks, or commas }", whose blanks after
 * {, around = and before } do not count.
 */
static int parse_defaults(const char *text, char ***out, struct buf *err)
{
	char **items = config_split_list(text);
	size_t n = 0, k = 0;

	while (items[n] != NULL)
		n++;
	*out = xcalloc(2 * n + 1, sizeof(**out));
	for (size_t i = 0; i < n; i++) {
		const char *item = items[i], *name, *value, *eq;
		size_t nlen, vlen, len = strlen(item);
		char *mname;

		if (item[0] == '{' && matching_brace(item) == item + len - 1 &&
		    (eq = strchr(item, '=')) != NULL) {
			/* { name = value } */
			nlen = trim(item + 1, (size_t)(eq - item - 1), &name);
			vlen = trim(eq + 1, (size_t)(item + len - 1 - eq - 1), &value);
		} else if ((eq = strchr(item, '=')) != NULL) {
			/* name=value, {name}=value */
			name = item;
			nlen = (size_t)(eq - item);
			value = eq + 1;
			vlen = strlen(value);
		} else {
			where(err, P_milter_macro_defaults);
			buf_printf(err, "\"%s\" is not name=value", item);
			goto fail;
		}
		mname = macro_name(name, nlen);
		if (mname == NULL) {
			where(err, P_milter_macro_defaults);
			buf_printf(err, "bad macro name \"%.*s\" in \"%s\"", (int)nlen, name, item);
			goto fail;
		}
		(*out)[k++] = mname;
		(*out)[k++] = xstrndup(value, vlen);
	}
	config_free_list(items);
	return 0;
fail:
	config_free_list(items);
	return -1;
}

int milter_cfg_load(const char *list_param, struct milter_cfg *out, struct buf *err)
{
	static const struct {
		int stage;
		const char *param;
	} stages[] = {
		{ MILTER_M_CONNECT, P_milter_connect_macros },
		{ MILTER_M_HELO, P_milter_helo_macros },
		{ MILTER_M_ENVFROM, P_milter_mail_macros },
		{ MILTER_M_ENVRCPT, P_milter_rcpt_macros },
		{ MILTER_M_DATA, P_milter_data_macros },
		{ MILTER_M_EOM, P_milter_end_of_data_macros },
		{ MILTER_M_EOH, P_milter_end_of_header_macros },
		{ MILTER_M_UNKNOWN, P_milter_unknown_command_macros },
	};
	struct milter_spec def = { 0 };
	struct buf why = BUF_INIT;

	def.connect_timeout_ms = secs_to_ms(cfg_int(P_milter_connect_timeout));
	def.command_timeout_ms = secs_to_ms(cfg_int(P_milter_command_timeout));
	def.content_timeout_ms = secs_to_ms(cfg_int(P_milter_content_timeout));
	def.protocol = (unsigned)cfg_int(P_milter_protocol);
	if (parse_action(cfg_str(P_milter_default_action), &def.default_action) < 0) {
		/* config_load() checks the choices; this only guards a stale table. */
		memset(out, 0, sizeof(*out));
		where(err, P_milter_default_action);
		buf_printf(err, "bad value \"%s\" (expected accept, reject, tempfail or quarantine)",
			   cfg_str(P_milter_default_action));
		return -1;
	}
	if (milter_cfg_parse_list(cfg_str(list_param), &def, out, &why) < 0) {
		where(err, list_param);
		buf_adds(err, buf_str(&why));
		buf_free(&why);
		return -1;
	}
	buf_free(&why);
	for (size_t i = 0; i < sizeof(stages) / sizeof(stages[0]); i++)
		if (parse_macros(stages[i].param, &out->macros[stages[i].stage], err) < 0)
			goto fail;
	if (parse_defaults(cfg_str(P_milter_macro_defaults), &out->macro_defaults, err) < 0)
		goto fail;
	out->daemon_name = xstrdup(cfg_str(P_milter_macro_daemon_name));
	out->macro_v = xstrdup(cfg_str(P_milter_macro_v));
	out->header_checks = xstrdup(cfg_str(P_milter_header_checks));
	return 0;
fail:
	milter_cfg_free(out);
	return -1;
}

void milter_cfg_free(struct milter_cfg *m)
{
	for (size_t i = 0; m->v != NULL && i < m->n; i++) {
		free(m->v[i].name);
		free(m->v[i].path);
		free(m->v[i].host);
	}
	free(m->v);
	for (size_t i = 0; i < MILTER_M_ALL; i++)
		config_free_list(m->macros[i]);
	config_free_list(m->macro_defaults);
	free(m->daemon_name);
	free(m->macro_v);
	free(m->header_checks);
	memset(m, 0, sizeof(*m));
}

int milter_cfg_resolve(struct milter_cfg *m, struct buf *err)
{
	for (size_t i = 0; i < m->n; i++) {
		struct milter_spec *s = &m->v[i];
		if (s->kind == MILTER_SOCK_UNIX)
			continue;
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
		struct addrinfo *ai;
		hints.ai_family = s->kind == MILTER_SOCK_INET6 ? AF_INET6 : AF_INET;
		if (getaddrinfo(s->host, NULL, &hints, &ai) == 0) {
			freeaddrinfo(ai);	/* numeric already */
			continue;
		}
		hints.ai_flags = 0;
		int g = getaddrinfo(s->host, NULL, &hints, &ai);
		if (g != 0) {
			buf_printf(err, "milter %s: cannot resolve %s: %s", s->name, s->host, gai_strerror(g));
			return -1;
		}
		char text[INET6_ADDRSTRLEN];
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, text, sizeof(text), NULL, 0, NI_NUMERICHOST) != 0) {
			freeaddrinfo(ai);
			buf_printf(err, "milter %s: cannot resolve %s", s->name, s->host);
			return -1;
		}
		freeaddrinfo(ai);
		free(s->host);
		s->host = xstrdup(text);
	}
	return 0;
}
