#!/bin/sh
# t_local_system_smtp.sh - t_local_system.sh with every message submitted over SMTP
# (smtpd, then the same cleanup, queue and delivery) instead of sendmail:
# the delivery tests of the local mail system also run through SMTP.
TERN_SUBMIT=smtp exec sh "$(dirname "$0")/t_local_system.sh"
