/*
 * local_ident.c - whose privileges a local delivery runs with, and the
 * switch to them.
 *
 * Runs in the local delivery agent (root). Mailboxes are written as
 * their user; |commands and /files from aliases as the owner of the
 * alias database (default_privs when that is root), from .forward as
 * its user, from :include: files as the file's owner (default_privs when
 * root). With local_maildir_base, or in an instance that does not run as
 * root, deliveries run as mail_owner / the instance owner.
 */
#include "compat.h"

#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mail/config.h"
#include "mail/daemon.h"
#include "local/local.h"
#include "util/log.h"

/*
 * Whether this process is root: asked of the kernel once, not at every
 * delivery (three times per message). The effective uid changes only
 * in ident_become (a child that drops root for good); write_as changes
 * the file-system uid and says so in local_as_user for its window.
 */
static int is_root = -1;
bool local_as_user;

bool local_is_root(void)
{
	if (local_as_user)
		return false;
	if (is_root < 0)
		is_root = geteuid() == 0;
	return is_root == 1;
}

static void from_pw(const struct passwd *pw, struct ident *id)
{
	id->uid = pw->pw_uid;
	id->gid = pw->pw_gid;
	strlcpy(id->user, pw->pw_name, sizeof(id->user));
	strlcpy(id->home, pw->pw_dir ? pw->pw_dir : "/", sizeof(id->home));
	strlcpy(id->shell, pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh", sizeof(id->shell));
}

/*
 * The account last found, kept until the next request (ident_forget):
 * one recipient asks for it up to three times (is it local, its
 * .forward, its mailbox), and each getpwnam() is an nsswitch.conf
 * stat() and an open, fstat, lseek, read and close of /etc/passwd.
 * Only a found account is kept: a user added meanwhile is seen at once.
 */
static struct ident known;
static char known_name[256];
static bool have_known;

void ident_forget(void)
{
	have_known = false;
}

int ident_of_user(const char *user, struct ident *id)
{
	struct passwd *pw;

	if (have_known && strcmp(known_name, user) == 0) {
		*id = known;
		return 0;
	}
	if ((pw = getpwnam(user)) == NULL)
		return -1;
	from_pw(pw, id);
	if (strlen(user) < sizeof(known_name)) {
		strlcpy(known_name, user, sizeof(known_name));
		known = *id;
		have_known = true;
	}
	return 0;
}

void ident_self(struct ident *id)
{
	struct passwd *pw;

	if (local_is_root()) {
		/*
		 * mail_owner's identity, looked up at most once a minute per
		 * process: with local_maildir_base every delivery asks, and a
		 * getpwnam() is an nsswitch.conf stat() and an open, read and
		 * close of /etc/passwd. A changed account is seen within the
		 * minute (a reload restarts the process at once).
		 */
		static struct ident owner;
		static char owner_name[sizeof(owner.user)];
		static time_t owner_at;
		const char *name = cfg_str(P_mail_owner);
		time_t now = time(NULL);

		if (owner_at != 0 && now >= owner_at && now - owner_at < 60
		    && strcmp(owner_name, name) == 0) {
			*id = owner;
			return;
		}
		if ((pw = getpwnam(name)) != NULL) {
			from_pw(pw, id);
			owner = *id;
			strlcpy(owner_name, name, sizeof(owner_name));
			owner_at = now;
			return;
		}
		msg_warn("mail_owner %s: no such user; using default_privs", cfg_str(P_mail_owner));
		ident_default_privs(id);
		return;
	}
	if ((pw = getpwuid(geteuid())) != NULL) {
		from_pw(pw, id);
	} else {
		memset(id, 0, sizeof(*id));
		id->uid = geteuid();
		id->gid = getegid();
		strlcpy(id->home, "/", sizeof(id->home));
		strlcpy(id->shell, "/bin/sh", sizeof(id->shell));
	}
}

void ident_default_privs(struct ident *id)
{
	struct passwd *pw = getpwnam(cfg_str(P_default_privs));

	if (!local_is_root()) {
		ident_self(id);
		return;
	}
	if (pw == NULL || pw->pw_uid == 0)
		pw = getpwnam("nobody");
	if (pw != NULL && pw->pw_uid != 0) {
		from_pw(pw, id);
		return;
	}
	memset(id, 0, sizeof(*id));
	id->uid = 65534;
	id->gid = 65534;
	strlcpy(id->user, "nobody", sizeof(id->user));
	strlcpy(id->home, "/", sizeof(id->home));
	strlcpy(id->shell, "/bin/sh", sizeof(id->shell));
}

int ident_of_file_owner(const char *path, struct ident *id)
{
	struct stat st;
	struct passwd *pw;

	if (!local_is_root()) {
		ident_self(id);
		return 0;
	}
	if (stat(path, &st) < 0)
		return -1;
	if (st.st_uid == 0 || (pw = getpwuid(st.st_uid)) == NULL) {
		ident_default_privs(id);
		return 0;
	}
	from_pw(pw, id);
	return 0;
}

void ident_alias_owner(struct ident *id)
{
	char **maps = cfg_list(P_alias_maps);
	char path[4096];

	if (!local_is_root() || maps == NULL || maps[0] == NULL) {
		ident_default_privs(id);
		return;
	}
	/* hash:/etc/aliases is the file /etc/aliases.db; texthash:/x is /x. */
	{
		const char *spec = maps[0], *colon = strchr(spec, ':');
		const char *name = colon ? colon + 1 : spec;
		int db = colon == NULL || strncmp(spec, "hash:", 5) == 0 || strncmp(spec, "btree:", 6) == 0;

		snprintf(path, sizeof(path), "%s%s", name, db ? ".db" : "");
	}
	if (path[0] == '/' && ident_of_file_owner(path, id) == 0)
		return;
	ident_default_privs(id);
}

int ident_become(const struct ident *id, struct buf *err)
{
	/* Only root's own mailbox is written as root; callers map root to default_privs otherwise. */
	if (!local_is_root() || id->uid == 0)
		return 0;
	is_root = -1;	/* asked again after the drop (whether or not it worked) */
	return priv_drop_ids(id->uid, id->gid, err);
}
