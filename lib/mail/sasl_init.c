/*
 * sasl_init.c - sasl_server_init(): the SASL backend set up from main.cf
 * (smtpd_sasl_type, smtpd_sasl_path, smtpd_sasl_password_maps).
 *
 * Mail layer. Called once by smtpd after config_load(), as mail_owner:
 * the password maps must be readable by mail_owner, and Dovecot's
 * auth-client socket connectable by it.
 */
#include "compat.h"

#include <pthread.h>
#include <string.h>

#include "mail/config.h"
#include "mail/sasl.h"
#include "mail/sasl_backend.h"
#include "util/map.h"

/* Map handles are not shared between threads without this. */
static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;

static int lookup_password(void *ctx, const char *user, struct buf *value)
{
	struct maplist *password_maps = ctx;
	pthread_mutex_lock(&maps_lock);
	int rc = maplist_lookup(password_maps, user, value);
	pthread_mutex_unlock(&maps_lock);
	if (rc < 0 && value->len == 0)
		buf_adds(value, "map lookup error");
	return rc;
}

static void release_password_maps(void *ctx)
{
	maplist_close(ctx);
}

int sasl_server_init(struct buf *err)
{
	const char *type = cfg_str(P_smtpd_sasl_type);
	struct sasl_setup setup = {.type = type};
	struct buf path = BUF_INIT;
	int rc;
	if (strcmp(type, "tern") == 0) {
		const char *specs = cfg_str(P_smtpd_sasl_password_maps);
		if (*specs == '\0') {
			buf_adds(err, "smtpd_sasl_type = tern but smtpd_sasl_password_maps is empty");
			return -1;
		}
		/* Called again (a reload): the maps named now; setup releases the old ones. */
		struct maplist *password_maps = maplist_open(specs, MAP_RDONLY, err);
		if (password_maps == NULL)
			return -1;
		setup.lookup = lookup_password;
		setup.lookup_ctx = password_maps;
		setup.release = release_password_maps;
	} else {
		const char *p = cfg_str(P_smtpd_sasl_path);
		if (p[0] != '/' && p[0] != '\0')
			buf_printf(&path, "%s/%s", cfg_str(P_queue_directory), p);
		else
			buf_adds(&path, p);
		setup.dovecot_path = buf_str(&path);
	}
	rc = sasl_server_setup(&setup, err);
	buf_free(&path);
	return rc;
}
