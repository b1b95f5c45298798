# lbatchlib.sh - setup shared by the tests of local's request batches
# (t_local_batch*.sh); source it after lib.sh.
#
#   lbatch_instance      tern_instance with qmgr switched off (0 processes
#                        in master.cf: it would deliver the hand-made queue
#                        files itself) and three queue files in active/;
#                        sets QDIR, MD (the Maildir of batch@localhost) and
#                        REQS: "ID:INDEX" of the three messages, where
#                        queue file K has K recipients and the Kth,
#                        batch@localhost, is at index K-1 (so the index
#                        in an answer tells which request it answers)
#   lclient MODE WANT ID:INDEX...
#                        run tests/e2e/lproto_client.py (see its top)
# Call tern_start (after any change to master.cf) before lclient.

lbatch_instance() {
	tern_instance
	awk 'BEGIN { OFS = "\t" } $1 == "qmgr" && NF >= 8 { $7 = 0 } { print }' \
		"$TERN_DIR/master.cf" > "$TERN_DIR/master.cf.new" &&
		mv "$TERN_DIR/master.cf.new" "$TERN_DIR/master.cf" || fail "cannot edit master.cf"
	grep -Eq '^qmgr[[:space:]].*[[:space:]]0[[:space:]]+qmgr$' "$TERN_DIR/master.cf" ||
		fail "cannot switch qmgr off in master.cf"
	QDIR=$(ternconf -h queue_directory) || fail "ternconf queue_directory"
	_owner=$(ternconf -h mail_owner) || fail "ternconf mail_owner"
	MD="$TERN_DIR/mail/batch"
	mkdir -p "$QDIR/active" || fail "mkdir active"
	_now=$(date +%s)
	REQS=""
	for _k in 1 2 3; do
		_id=$(printf '%X%05X%X' "$_now" $((4660 + _k)) 48879)
		REQS="$REQS $_id:$((_k - 1))"
		_body=$(printf 'Subject: batch %s\n\nmessage number %s\n' "$_k" "$_k")
		_len=$(printf '%s\n' "$_body" | wc -c)
		{
			printf 'TERNQ 1\nT %s.000000\nI %s\nS sender@example.org\n' "$_now" "$_id"
			_i=1
			while [ "$_i" -lt "$_k" ]; do
				printf 'R-0\tother%s@localhost\t\n' "$_i"
				_i=$((_i + 1))
			done
			printf 'R-0\tbatch@localhost\t\n'
			printf 'M %020d\n' "$_len"
			printf '%s\n' "$_body"
			printf 'E\n'
		} > "$QDIR/active/$_id" || fail "write a queue file"
		chown "$_owner" "$QDIR/active/$_id" && chmod 600 "$QDIR/active/$_id" || fail "chown"
	done
}

lclient() {
	python3 "$TERN_TOP/tests/e2e/lproto_client.py" "$QDIR" "$MD" "$@"
}
