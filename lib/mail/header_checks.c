/*
 * header_checks.c - evaluate header_checks(5) rules for one header (see
 * header_checks.h): the lookup, and the result turned into an action.
 *
 * Mail layer; no privileges, no I/O but the map's. The header and, through
 * $N, the texts come from a milter or a client: nothing here trusts them
 * (texts are cleaned for replies and logs, see hc_set_text).
 */
#include "compat.h"

#include <string.h>
#include <strings.h>

#include "mail/header.h"
#include "mail/header_checks.h"

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

void header_check_init(struct header_check *hc)
{
	memset(hc, 0, sizeof(*hc));
	buf_init(&hc->text);
	buf_init(&hc->warning);
	buf_init(&hc->result);
}

void header_check_free(struct header_check *hc)
{
	buf_free(&hc->text);
	buf_free(&hc->warning);
	buf_free(&hc->result);
}

static void hc_reset(struct header_check *hc)
{
	hc->action = HC_DUNNO;
	hc->code = 0;
	hc->dsn[0] = '\0';
	buf_reset(&hc->text);
	buf_reset(&hc->warning);
	buf_reset(&hc->result);
}

/*
 * The text as it may go into an SMTP reply or a log line: every control
 * character (CR and LF above all: a reply must stay one line) becomes a
 * space, and it is cut at HC_TEXT_MAX bytes without splitting a UTF-8
 * character.
 */
static void hc_set_text(struct header_check *hc, const char *s)
{
	size_t n = strlen(s);
	if (n > HC_TEXT_MAX) {
		n = HC_TEXT_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	buf_reset(&hc->text);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		buf_addc(&hc->text, c < 0x20 || c == 0x7f ? ' ' : (char)c);
	}
}

/* A non-empty word of printable characters (an address for REDIRECT). */
static int one_word(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return 0;
	return 1;
}

/* "4.7.1" / "5.7.1" at s, followed by white space or the end: its length, else 0. */
static size_t dsn_len(const char *s)
{
	const char *p = s;
	if (*p != '4' && *p != '5')
		return 0;
	p++;
	for (int part = 0; part < 2; part++) {
		if (*p++ != '.')
			return 0;
		int digits = 0;
		while (*p >= '0' && *p <= '9' && digits < 4) {
			p++;
			digits++;
		}
		if (digits == 0 || digits > 3)
			return 0;
	}
	return *p == '\0' || is_blank(*p) ? (size_t)(p - s) : 0;
}

static void hc_reject(struct header_check *hc, const char *arg)
{
	size_t n = dsn_len(arg);
	hc->action = HC_REJECT;
	if (n > 0) {
		memcpy(hc->dsn, arg, n);
		hc->dsn[n] = '\0';
		arg += n;
		while (is_blank(*arg))
			arg++;
	} else {
		strlcpy(hc->dsn, "5.7.1", sizeof(hc->dsn));
	}
	hc->code = hc->dsn[0] == '4' ? 451 : 550;
	hc_set_text(hc, *arg ? arg : "Message content rejected");
}

/* Not acted on: DUNNO, with the reason for the caller's log. */
static void hc_skip(struct header_check *hc, const char *fmt, const char *word)
{
	hc->action = HC_DUNNO;
	buf_reset(&hc->text);
	buf_printf(&hc->warning, fmt, word);
}

void header_check_parse(const char *result, struct header_check *hc)
{
	hc_reset(hc);
	buf_adds(&hc->result, result);
	const char *s = result;
	while (is_blank(*s))
		s++;
	const char *word = s;
	while (*s && !is_blank(*s))
		s++;
	size_t wlen = (size_t)(s - word);
	while (is_blank(*s))
		s++;
	/* The argument without trailing white space. */
	struct buf argb = BUF_INIT;
	buf_adds(&argb, s);
	while (argb.len > 0 && is_blank(argb.data[argb.len - 1]))
		buf_truncate(&argb, argb.len - 1);
	const char *arg = buf_str(&argb);
	char name[16] = "";
	if (wlen < sizeof(name)) {
		memcpy(name, word, wlen);
		name[wlen] = '\0';
	}
	static const struct {
		const char *word;
		enum hc_action action;
	} texts[] = {
		{"DISCARD", HC_DISCARD}, {"HOLD", HC_HOLD}, {"WARN", HC_WARN}, {"INFO", HC_INFO},
	};
	size_t i;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (strcasecmp(name, texts[i].word) == 0)
			break;
	if (i < sizeof(texts) / sizeof(texts[0])) {
		hc->action = texts[i].action;
		hc_set_text(hc, arg);
	} else if (strcasecmp(name, "REJECT") == 0) {
		hc_reject(hc, arg);
	} else if (strcasecmp(name, "DUNNO") == 0 || strcasecmp(name, "OK") == 0) {
		hc->action = HC_DUNNO;	/* OK has always meant DUNNO in these tables */
	} else if (strcasecmp(name, "IGNORE") == 0) {
		hc->action = HC_IGNORE;
	} else if (strcasecmp(name, "REDIRECT") == 0) {
		if (!one_word(arg))
			hc_skip(hc, "%s needs one address (REDIRECT user@domain): rule not applied", "REDIRECT");
		else {
			hc->action = HC_REDIRECT;
			hc_set_text(hc, arg);
		}
	} else if (strcasecmp(name, "REPLACE") == 0) {
		size_t namelen;
		if (!header_line_is_field(arg, strlen(arg), &namelen))
			hc_skip(hc, "%s text must be a whole header (Name: value): rule not applied", "REPLACE");
		else {
			hc->action = HC_REPLACE;
			hc_set_text(hc, arg);
		}
	} else if (strcasecmp(name, "FILTER") == 0 || strcasecmp(name, "PREPEND") == 0 ||
		   strcasecmp(name, "BCC") == 0) {
		hc_skip(hc, "%s is not implemented for milter_header_checks: treated as DUNNO", name);
	} else {
		/* Unknown: the word itself may be anything; show it cleaned, one line. */
		hc_set_text(hc, word);
		buf_truncate(&hc->text, wlen < hc->text.len ? wlen : hc->text.len);
		buf_printf(&hc->warning, "unknown action \"%s\": treated as DUNNO", buf_str(&hc->text));
		buf_reset(&hc->text);
		hc->action = HC_DUNNO;
	}
	buf_free(&argb);
}

/* The lookup key: the header without a final line break. */
static void hc_key(const char *header, struct buf *key)
{
	buf_reset(key);
	buf_adds(key, header);
	while (key->len > 0 && (key->data[key->len - 1] == '\n' || key->data[key->len - 1] == '\r'))
		buf_truncate(key, key->len - 1);
}

int header_checks_map(struct map *map, const char *header, struct header_check *hc, struct buf *err)
{
	struct buf key = BUF_INIT, value = BUF_INIT;
	hc_key(header, &key);
	hc_reset(hc);
	int r = map_lookup(map, buf_str(&key), &value);
	if (r < 0) {
		buf_reset(err);
		buf_adds(err, map_error(map));
	} else if (r == 1) {
		header_check_parse(buf_str(&value), hc);
	}
	buf_free(&key);
	buf_free(&value);
	return r;
}

int header_checks_list(struct maplist *list, const char *header, struct header_check *hc,
		       struct buf *err)
{
	struct buf key = BUF_INIT, value = BUF_INIT;
	hc_key(header, &key);
	hc_reset(hc);
	int r = maplist_lookup(list, buf_str(&key), &value);
	if (r < 0) {
		buf_reset(err);
		buf_adds(err, maplist_error(list));
	} else if (r == 1) {
		header_check_parse(buf_str(&value), hc);
	}
	buf_free(&key);
	buf_free(&value);
	return r;
}

const char *header_check_action_name(enum hc_action action)
{
	switch (action) {
	case HC_DUNNO: return "dunno";
	case HC_IGNORE: return "ignore";
	case HC_REPLACE: return "replace";
	case HC_INFO: return "info";
	case HC_WARN: return "warning";
	case HC_HOLD: return "hold";
	case HC_DISCARD: return "discard";
	case HC_REDIRECT: return "redirect";
	case HC_REJECT: return "reject";
	}
	return "dunno";
}
