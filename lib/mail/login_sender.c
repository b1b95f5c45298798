/*
 * login_sender.c - local_login_sender_maps matching (see login_sender.h).
 *
 * Mail layer; runs in terndrop (setgid terndrop) and pickup (mail_owner)
 * on a sender given by a local user. No allocation survives a call.
 */
#include "compat.h"

#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/login_sender.h"
#include "mail/qfile.h"
#include "util/buf.h"
#include "util/map.h"
#include "util/mem.h"

static void qualify(const char *addr, const char *myorigin, struct buf *out)
{
	buf_reset(out);
	buf_adds(out, addr);
	if (*addr != '\0' && strchr(addr, '@') == NULL && myorigin && *myorigin)
		buf_printf(out, "@%s", myorigin);
}

int login_sender_match(const char *patterns, const char *sender, const char *myorigin)
{
	struct buf want = BUF_INIT, pat = BUF_INIT;
	const char *p = patterns;
	int ok = 0;

	qualify(sender, myorigin, &want);
	const char *at = strrchr(buf_str(&want), '@');
	while (*p && !ok) {
		p += strspn(p, ", \t\r\n");
		size_t len = strcspn(p, ", \t\r\n");
		if (len == 0)
			break;
		char *tok = xstrndup(p, len);
		p += len;
		if (strcmp(tok, "*") == 0)
			ok = 1;
		else if (strcmp(tok, "<>") == 0)
			ok = *sender == '\0';
		else if (*tok == '@')
			ok = *sender != '\0' && at != NULL && strcasecmp(at, tok) == 0;
		else {
			qualify(tok, myorigin, &pat);
			ok = *sender != '\0' && strcasecmp(buf_str(&pat), buf_str(&want)) == 0;
		}
		free(tok);
	}
	buf_free(&want);
	buf_free(&pat);
	return ok;
}

int login_sender_allowed(const char *maps, const char *login, const char *sender,
			 const char *myorigin, struct buf *err)
{
	if (maps == NULL || *maps == '\0')
		return 1;
	struct maplist *ml = maplist_open(maps, 0, err);
	if (ml == NULL)
		return -1;
	int rc = login_sender_allowed_in(ml, login, sender, myorigin, err);
	maplist_close(ml);
	return rc;
}

int login_sender_allowed_in(struct maplist *ml, const char *login, const char *sender,
			    const char *myorigin, struct buf *err)
{
	struct buf value = BUF_INIT;
	int rc = maplist_lookup(ml, login, &value);
	if (rc < 0) {
		buf_reset(err);
		buf_printf(err, "local_login_sender_maps lookup of %s failed", login);
	} else if (rc == 1) {
		rc = login_sender_match(buf_str(&value), sender, myorigin);
	}
	buf_free(&value);
	return rc;
}

bool login_sender_needs_login(const char *maps)
{
	if (maps == NULL)
		return false;
	maps += strspn(maps, ", \t\r\n");	/* map_split_list's separators */
	return *maps != '\0' && strncmp(maps, "static:", 7) != 0;
}

int submit_user_allowed(char *const *list, const char *login, struct buf *err)
{
	for (; list && *list; list++) {
		const char *item = *list;
		bool negate = *item == '!';
		if (negate)
			item++;
		int match;
		if (strchr(item, ':') != NULL && item[0] != '/') {
			struct buf value = BUF_INIT;
			struct map *m = map_open(item, 0, err);
			if (m == NULL)
				return -1;
			match = map_lookup(m, login, &value);
			if (match < 0) {
				buf_reset(err);
				buf_printf(err, "authorized_submit_users: lookup in %s failed", item);
			}
			map_close(m);
			buf_free(&value);
			if (match < 0)
				return -1;
		} else {
			match = strcmp(item, login) == 0;
		}
		if (match)
			return negate ? 0 : 1;
	}
	return 0;
}

bool submit_user_needs_login(char *const *list)
{
	return list == NULL || list[0] == NULL || strncmp(list[0], "static:", 7) != 0;
}

/* getpwuid_r, or what a test put in its place (login_of_uid_lookup_hook). */
static login_lookup_fn *lookup_hook;

void login_of_uid_lookup_hook(login_lookup_fn *fn)
{
	__atomic_store_n(&lookup_hook, fn, __ATOMIC_RELEASE);
}

int login_of_uid(uid_t uid, char *login, size_t size, struct buf *full_name)
{
	login_lookup_fn *lookup = __atomic_load_n(&lookup_hook, __ATOMIC_ACQUIRE);
	struct passwd pwbuf, *pw = NULL;
	size_t len = 4096;
	char *store = NULL;
	int rc;

	if (lookup == NULL)
		lookup = getpwuid_r;
	/* getpwuid_r: the queue manager's listing may run in more than one thread. */
	do {
		store = xrealloc(store, len);
		rc = lookup(uid, &pwbuf, store, len, &pw);
		len *= 2;
	} while (rc == ERANGE && len <= 1024 * 1024);
	/*
	 * 0 with no entry is "no such user"; anything else is a failed look-up
	 * (glibc passes a source's NSS_STATUS_UNAVAIL on as an errno, often
	 * ENOENT for an LDAP or SSSD daemon that is down), not an answer.
	 */
	if (rc != 0)
		pw = NULL;
	if (pw != NULL && pw->pw_name != NULL && *pw->pw_name != '\0' && strlen(pw->pw_name) < size &&
	    qfile_field_valid(pw->pw_name))
		strlcpy(login, pw->pw_name, size);
	else
		snprintf(login, size, "#%ld", (long)uid);
	if (full_name != NULL) {
		/* The GECOS field up to its first comma, whole, if that is a valid field. */
		buf_reset(full_name);
		if (pw != NULL && pw->pw_gecos != NULL) {
			buf_add(full_name, pw->pw_gecos, strcspn(pw->pw_gecos, ","));
			if (!qfile_field_valid(buf_str(full_name)))
				buf_reset(full_name);
		}
	}
	free(store);
	return rc == 0 ? 0 : -1;
}

bool login_lookup_patience_over(time_t put, time_t now)
{
	return now - put >= LOGIN_LOOKUP_PATIENCE;
}

bool login_lookup_warn_due(uid_t uid, time_t now)
{
	/* A few uids: a broken source fails for every uid it holds, and they are few at a time. */
	static struct {
		uid_t uid;
		time_t at;
		bool used;
	} last[8];
	static size_t next;
	size_t i;

	for (i = 0; i < sizeof(last) / sizeof(last[0]); i++)
		if (last[i].used && last[i].uid == uid)
			break;
	if (i == sizeof(last) / sizeof(last[0])) {
		i = next;
		next = (next + 1) % (sizeof(last) / sizeof(last[0]));
	} else if (now - last[i].at < 60 && now >= last[i].at) {
		return false;
	}
	last[i].uid = uid;
	last[i].at = now;
	last[i].used = true;
	return true;
}
