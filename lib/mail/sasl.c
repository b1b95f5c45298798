/*
 * sasl.c - server side of SMTP AUTH (sasl.h): one exchange at a time per
 * context, dispatched to the backend chosen by sasl_server_setup().
 *
 * Mail layer. Runs inside smtpd as mail_owner on bytes a network client
 * chose. The "tern" backend runs PLAIN and LOGIN itself and verifies with
 * crypt(3); the "dovecot" backend relays every step to Dovecot. The
 * backend settings are written once at start-up and only read afterwards,
 * so contexts may be stepped from several threads.
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/sasl.h"
#include "mail/sasl_backend.h"
#include "util/mem.h"

enum backend { BACKEND_NONE, BACKEND_TERN, BACKEND_DOVECOT };

static struct {
	enum backend type;
	char *dovecot_path;
	int timeout;
	sasl_lookup_fn lookup;
	void *lookup_ctx;
	void (*release)(void *lookup_ctx);
	char *mechs;
} backend;

enum mech { MECH_PLAIN, MECH_LOGIN, MECH_OTHER };

enum state {
	ST_START,		/* nothing received yet */
	ST_WANT_PLAIN,		/* PLAIN: sent the empty challenge */
	ST_WANT_USER,		/* LOGIN: sent "Username:" */
	ST_WANT_PASS,		/* LOGIN: sent "Password:" */
	ST_DONE,
	ST_FAILED,
};

/* Clients loop forever on CONTINUE if we let them. */
#define MAX_STEPS 16

struct sasl_server {
	enum mech mech;
	char *mech_name;
	char *client_addr;
	bool tls;
	enum state state;
	int steps;
	struct buf login_user;
	char *username;
	struct dovecot_exchange *dovecot;
};

void sasl_server_shutdown(void)
{
	free(backend.dovecot_path);
	free(backend.mechs);
	if (backend.release)
		backend.release(backend.lookup_ctx);
	memset(&backend, 0, sizeof backend);
	dovecot_disconnect();
}

static int setup_backend(const struct sasl_setup *setup, struct buf *err);

/* The backend owns setup->lookup_ctx from here on, even when setup fails. */
int sasl_server_setup(const struct sasl_setup *setup, struct buf *err)
{
	sasl_server_shutdown();
	int rc = setup_backend(setup, err);
	if (rc < 0 && setup->release)
		setup->release(setup->lookup_ctx);
	return rc;
}

static int setup_backend(const struct sasl_setup *setup, struct buf *err)
{
	const char *type = setup->type ? setup->type : "";
	backend.timeout = setup->timeout > 0 ? setup->timeout : 30;
	if (strcmp(type, "tern") == 0) {
		if (setup->lookup == NULL) {
			buf_adds(err, "SASL type tern needs a password map (smtpd_sasl_password_maps)");
			return -1;
		}
		backend.type = BACKEND_TERN;
		backend.lookup = setup->lookup;
		backend.lookup_ctx = setup->lookup_ctx;
		backend.release = setup->release;
		backend.mechs = xstrdup("PLAIN LOGIN");
		return 0;
	}
	if (strcmp(type, "dovecot") == 0) {
		if (setup->dovecot_path == NULL || *setup->dovecot_path == '\0') {
			buf_adds(err, "SASL type dovecot needs smtpd_sasl_path");
			return -1;
		}
		struct buf mechs = BUF_INIT;
		if (dovecot_probe(setup->dovecot_path, backend.timeout, &mechs, err) < 0) {
			buf_free(&mechs);
			return -1;
		}
		if (mechs.len == 0) {
			buf_printf(err, "Dovecot at %s offers no usable mechanism", setup->dovecot_path);
			buf_free(&mechs);
			return -1;
		}
		backend.type = BACKEND_DOVECOT;
		backend.dovecot_path = xstrdup(setup->dovecot_path);
		backend.mechs = buf_steal(&mechs);
		return 0;
	}
	buf_printf(err, "unknown SASL type \"%s\" (known: dovecot, tern)", type);
	return -1;
}

const char *sasl_server_mechanisms(bool tls)
{
	(void)tls;	/* the same either way; smtpd decides whether AUTH is offered */
	return backend.mechs ? backend.mechs : "";
}

static bool offered(const char *mech)
{
	size_t len = strlen(mech);
	for (const char *p = sasl_server_mechanisms(true); *p;) {
		size_t n = strcspn(p, " ");
		if (n == len && strncasecmp(p, mech, len) == 0)
			return true;
		p += n;
		p += strspn(p, " ");
	}
	return false;
}

struct sasl_server *sasl_server_new(const char *mech, const char *client_addr, bool tls)
{
	if (backend.type == BACKEND_NONE || mech == NULL || *mech == '\0' || !offered(mech))
		return NULL;
	struct sasl_server *s = xcalloc(1, sizeof *s);
	s->mech_name = xstrdup(mech);
	for (char *p = s->mech_name; *p; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	s->mech = strcmp(s->mech_name, "PLAIN") == 0 ? MECH_PLAIN :
		  strcmp(s->mech_name, "LOGIN") == 0 ? MECH_LOGIN : MECH_OTHER;
	s->client_addr = xstrdup(client_addr ? client_addr : "");
	s->tls = tls;
	s->state = ST_START;
	buf_init(&s->login_user);
	if (backend.type == BACKEND_DOVECOT)
		s->dovecot = dovecot_exchange_new(backend.dovecot_path, backend.timeout);
	return s;
}

/* Look the user up and verify; DONE, FAIL or TEMPFAIL. */
static enum sasl_status verify(struct sasl_server *s, const char *user, const char *pass,
			       struct buf *reason)
{
	struct buf hash = BUF_INIT;
	int found = backend.lookup(backend.lookup_ctx, user, &hash);
	enum sasl_status st;
	if (found < 0) {
		buf_printf(reason, "password lookup for %s failed: %s", user, buf_str(&hash));
		st = SASL_TEMPFAIL;
	} else {
		/* The first word of the value is the hash (room for more later). */
		size_t n = strcspn(buf_str(&hash), " \t");
		buf_truncate(&hash, n);
		int ok = sasl_crypt_verify(pass, found ? buf_str(&hash) : NULL);
		if (ok == 1) {
			s->username = xstrdup(user);
			st = SASL_DONE;
		} else if (ok < 0) {
			buf_printf(reason, "unusable password hash for %s", user);
			st = SASL_TEMPFAIL;
		} else {
			buf_printf(reason, found ? "wrong password for %s" : "no such user %s", user);
			st = SASL_FAIL;
		}
	}
	if (hash.data)
		explicit_bzero(hash.data, hash.cap);
	buf_free(&hash);
	return st;
}

static enum sasl_status step_plain(struct sasl_server *s, const char *data, size_t len,
				   struct buf *out)
{
	if (s->state == ST_START && data == NULL) {
		s->state = ST_WANT_PLAIN;	/* "334 " with nothing: send it all */
		return SASL_CONTINUE;
	}
	struct buf user = BUF_INIT, pass = BUF_INIT;
	enum sasl_status st;
	if (sasl_plain_parse(data, data ? len : 0, &user, &pass) < 0) {
		buf_adds(out, buf_str(&user));
		st = SASL_FAIL;
	} else {
		st = verify(s, user.data, pass.data, out);
	}
	if (pass.data)
		explicit_bzero(pass.data, pass.len);
	buf_free(&user);
	buf_free(&pass);
	return st;
}

static enum sasl_status step_login(struct sasl_server *s, const char *data, size_t len,
				   struct buf *out)
{
	switch (s->state) {
	case ST_START:
		if (data == NULL) {
			s->state = ST_WANT_USER;
			buf_adds(out, "Username:");
			return SASL_CONTINUE;
		}
		/* Some clients send the user name as an initial response. */
		/* fall through */
	case ST_WANT_USER:
		if (sasl_login_field(data, data ? len : 0, true) < 0) {
			buf_adds(out, "LOGIN user name empty, too long or with control characters");
			return SASL_FAIL;
		}
		buf_add(&s->login_user, data, len);
		s->state = ST_WANT_PASS;
		buf_adds(out, "Password:");
		return SASL_CONTINUE;
	case ST_WANT_PASS:
		if (sasl_login_field(data, data ? len : 0, false) < 0) {
			buf_adds(out, "LOGIN password empty, too long or with a NUL");
			return SASL_FAIL;
		}
		{
			char *pass = xstrndup(data, len);
			enum sasl_status st = verify(s, s->login_user.data, pass, out);
			explicit_bzero(pass, len);
			free(pass);
			return st;
		}
	default:
		buf_adds(out, "LOGIN exchange in a bad state");
		return SASL_FAIL;
	}
}

enum sasl_status sasl_server_step(struct sasl_server *s, const char *data, size_t len,
				  struct buf *challenge)
{
	buf_reset(challenge);
	if (s->state == ST_DONE || s->state == ST_FAILED) {
		buf_adds(challenge, "exchange already finished");
		return SASL_FAIL;
	}
	if (++s->steps > MAX_STEPS) {
		s->state = ST_FAILED;
		buf_adds(challenge, "too many steps");
		return SASL_FAIL;
	}
	enum sasl_status st;
	if (s->dovecot) {
		struct buf user = BUF_INIT;
		st = dovecot_exchange_step(s->dovecot, s->mech_name, s->client_addr, s->tls,
					   data, len, challenge, &user);
		if (st == SASL_DONE)
			s->username = buf_steal(&user);
		buf_free(&user);
	} else if (s->mech == MECH_PLAIN) {
		st = step_plain(s, data, len, challenge);
	} else if (s->mech == MECH_LOGIN) {
		st = step_login(s, data, len, challenge);
	} else {
		buf_adds(challenge, "mechanism not supported");
		st = SASL_FAIL;
	}
	if (st == SASL_DONE)
		s->state = ST_DONE;
	else if (st != SASL_CONTINUE)
		s->state = ST_FAILED;
	return st;
}

const char *sasl_username(const struct sasl_server *s)
{
	return s && s->state == ST_DONE ? s->username : NULL;
}

void sasl_server_free(struct sasl_server *s)
{
	if (s == NULL)
		return;
	dovecot_exchange_free(s->dovecot);
	if (s->login_user.data)
		explicit_bzero(s->login_user.data, s->login_user.len);
	buf_free(&s->login_user);
	free(s->username);
	free(s->client_addr);
	free(s->mech_name);
	free(s);
}
