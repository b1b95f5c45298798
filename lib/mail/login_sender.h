/*
 * login_sender.h - local_login_sender_maps: which envelope senders a
 * local login may use (Postfix's parameter and semantics).
 *
 * Mail layer; runs in terndrop (setgid terndrop) at submission and again
 * in pickup (mail_owner). The tables are searched by the login name and
 * return sender patterns separated by commas and/or white space:
 *   *          any sender
 *   <>         the null sender
 *   @domain    any address in that domain
 *   address    that address; unqualified ones get @myorigin
 * The sender is qualified with @myorigin the same way before matching,
 * and addresses compare without regard to case. A login that the tables
 * do not find may use no sender at all (Postfix's rule); the default
 * "static:*" allows everything.
 */
#ifndef TERN_MAIL_LOGIN_SENDER_H
#define TERN_MAIL_LOGIN_SENDER_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "util/buf.h"

/* 1 allowed, 0 refused, -1 table error (reason in err: a temporary failure). */
int login_sender_allowed(const char *maps, const char *login, const char *sender,
			 const char *myorigin, struct buf *err);
/*
 * The same with the tables opened earlier (maplist_open of the parameter's
 * value): the one-process sendmail opens them while it still holds the
 * group that may read them, and looks up once it knows the sender.
 */
struct maplist;
int login_sender_allowed_in(struct maplist *ml, const char *login, const char *sender,
			    const char *myorigin, struct buf *err);

/*
 * Whether login_sender_allowed's answer depends on the login: not when the
 * maps are empty or the first is a static: table (it answers the same for
 * every login, the default static:*), so a submitter need not look its
 * login up for them (a look-up that an NSS source being down would fail).
 */
bool login_sender_needs_login(const char *maps);

/* Match one pattern list (the table's value) without a table; 1 or 0. */
int login_sender_match(const char *patterns, const char *sender, const char *myorigin);

/*
 * authorized_submit_users (Postfix): may this login submit mail at all?
 * The list holds login names, "type:table" lookups (a found key matches;
 * static:anyone matches everybody) and "!" negations; the first item that
 * matches decides, and no match means no. 1 yes, 0 no, -1 table error.
 */
int submit_user_allowed(char *const *list, const char *login, struct buf *err);
/*
 * Whether submit_user_allowed's answer depends on the login: not when the
 * first item is a static: table (it matches every login, the default
 * static:anyone), so a submitter need not look its login up for it.
 */
bool submit_user_needs_login(char *const *list);

/*
 * The login name of a local uid as the maildrop's writers, pickup and the
 * queue listing use it (the default sender of its mail, the key of the
 * tables above): the password entry's name when it is a non-empty valid
 * queue file field, else "#UID". full_name (if not NULL): the GECOS field
 * up to its first comma when that is a valid field, else "". 0 when the
 * look-up answered (a uid without an entry gets "#UID"), -1 when it failed
 * (an NSS source unreachable: login is "#UID" then too, which a caller that
 * records it must not take for an answer). Thread-safe.
 */
int login_of_uid(uid_t uid, char *login, size_t size, struct buf *full_name);

/*
 * pickup, when login_of_uid fails for a maildrop file's owner: the file
 * waits for a later scan until LOGIN_LOOKUP_PATIENCE seconds after it
 * was put in maildrop/ (its ctime, which its owner cannot set back), then
 * goes with "#UID" (as before failures were told from answers), so that
 * a source that stays broken does not hold mail for ever.
 */
#define LOGIN_LOOKUP_PATIENCE	3600
bool login_lookup_patience_over(time_t put, time_t now);
/*
 * Whether to warn now of a failed look-up of uid: once a minute per uid
 * (for the last few uids warned of), not once per file and scan. Not
 * thread-safe (pickup has one thread).
 */
bool login_lookup_warn_due(uid_t uid, time_t now);

/* Tests: look entries up with fn instead of getpwuid_r (NULL: getpwuid_r again). */
struct passwd;
typedef int login_lookup_fn(uid_t uid, struct passwd *pwbuf, char *store, size_t len,
			    struct passwd **result);
void login_of_uid_lookup_hook(login_lookup_fn *fn);

#endif
