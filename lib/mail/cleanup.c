/*
 * cleanup.c - cleanup_open(): cleanup with the settings of the loaded
 * main.cf (the work is done in cleanup_core.c).
 *
 * Mail layer. Runs in the submitting process (pickup, smtpd, bounce) with
 * its privileges. Parameters read: queue_directory, myhostname, myorigin,
 * mydestination, mail_name, append_at_myorigin, swap_bangpath,
 * allow_percent_hack, append_dot_mydomain, mydomain, message_size_limit,
 * header_size_limit, hopcount_limit, canonical_maps, sender_canonical_maps,
 * recipient_canonical_maps, virtual_alias_maps, smtpd_sasl_authenticated_header,
 * virtual_alias_expansion_limit, virtual_alias_recursion_limit.
 * Tables are opened on first use and kept; they are reopened when the
 * parameter's value changes (after a reload) or their file was rebuilt
 * (param_maps.h).
 */
#include "compat.h"

#include <stdlib.h>
#include <string.h>

#include "mail/cleanup.h"
#include "mail/cleanup_impl.h"
#include "mail/config.h"
#include "mail/param_maps.h"
#include "util/buf.h"

static struct param_maps tables[] = {
	[CLEANUP_TABLE_CANONICAL] = PARAM_MAPS_INIT(P_canonical_maps),
	[CLEANUP_TABLE_SENDER_CANONICAL] = PARAM_MAPS_INIT(P_sender_canonical_maps),
	[CLEANUP_TABLE_RECIPIENT_CANONICAL] = PARAM_MAPS_INIT(P_recipient_canonical_maps),
	[CLEANUP_TABLE_VIRTUAL] = PARAM_MAPS_INIT(P_virtual_alias_maps),
};

static int config_lookup(void *ctx, enum cleanup_table t, const char *key, struct buf *value)
{
	(void)ctx;
	return param_maps_lookup(&tables[t], key, value);
}

struct cleanup *cleanup_open(enum cleanup_source source, int flags)
{
	return cleanup_open_writer(source, flags, NULL);
}

struct cleanup *cleanup_open_writer(enum cleanup_source source, int flags, struct qfile_writer *writer)
{
	static struct buf incoming = BUF_INIT, wake = BUF_INIT, hold = BUF_INIT;
	struct cleanup_settings s = {0};

	/* Appended, not buf_printf: three of these a message. */
	const char *qdir = cfg_str(P_queue_directory);
	buf_reset(&incoming);
	buf_adds(&incoming, qdir);
	buf_adds(&incoming, "/incoming");
	buf_reset(&hold);
	buf_adds(&hold, qdir);
	buf_adds(&hold, "/hold");
	buf_reset(&wake);
	buf_adds(&wake, qdir);
	buf_adds(&wake, "/private/qmgr");
	s.incoming_dir = buf_str(&incoming);
	s.hold_dir = buf_str(&hold);
	s.wake_socket = buf_str(&wake);
	s.myhostname = cfg_str(P_myhostname);
	s.myorigin = cfg_str(P_myorigin);
	s.mail_name = cfg_str(P_mail_name);
	s.local_domains = cfg_list(P_mydestination);
	s.append_at_myorigin = cfg_bool(P_append_at_myorigin);
	s.swap_bangpath = cfg_bool(P_swap_bangpath);
	s.percent_hack = cfg_bool(P_allow_percent_hack);
	s.append_dot_mydomain = cfg_bool(P_append_dot_mydomain) ? cfg_str(P_mydomain) : NULL;
	s.sasl_authenticated_header = cfg_bool(P_smtpd_sasl_authenticated_header);
	s.message_size_limit = (unsigned long long)cfg_int(P_message_size_limit);
	s.header_size_limit = (unsigned long long)cfg_int(P_header_size_limit);
	s.header_block_size_limit = (unsigned long long)cfg_int(P_header_block_size_limit);
	s.virtual_expansion_limit = (int)cfg_int(P_virtual_alias_expansion_limit);
	s.virtual_recursion_limit = (int)cfg_int(P_virtual_alias_recursion_limit);
	s.hopcount_limit = (int)cfg_int(P_hopcount_limit);
	s.recipient_delimiter = cfg_str(P_recipient_delimiter);
	for (char **w = cfg_list(P_propagate_unmatched_extensions); w != NULL && *w != NULL; w++) {
		if (strcasecmp(*w, "canonical") == 0)
			s.propagate_canonical = true;
		else if (strcasecmp(*w, "virtual") == 0)
			s.propagate_virtual = true;
	}
	s.lookup = config_lookup;
	s.writer = writer;
	return cleanup_open_with(&s, source, flags);
}
