#!/bin/sh
# t_smtp_sts.sh - MTA-STS in the smtp program (RFC 8461), on the private
# network of netlib.sh: a domain whose _mta-sts TXT record and policy
# (served over HTTPS with a certificate of the test CA, smtp_tls_CAfile)
# say "mode: enforce" with only its second MX: the first MX, though
# preferred and up, gets nothing, the second gets the mail over verified
# TLS; a domain in "mode: testing" whose MX is not in its policy still
# gets the mail, and the log says the MX is not in the policy.
# Needs root (network namespace, ports 25 and 443).
here=$(dirname "$0")
[ -f "$here/lib.sh" ] || { echo "skip: tests/e2e/lib.sh is missing"; exit 77; }
. "$here/lib.sh"
. "$here/netlib.sh"
smtp_test_begin --ca -- "$@"

c=$NET_DIR/certs
for h in mx1.enf.test mx2.enf.test mta-sts.enf.test mx1.tst.test mta-sts.tst.test; do
	test_cert "$h" "$c" "$NET_DIR/ca"
done
dns_zone enf.test >/dev/null <<EOF
@         MX 10 mx1
@         MX 20 mx2
mx1       A  127.0.0.2
mx2       A  127.0.0.3
mta-sts   A  127.0.0.6
_mta-sts  TXT "v=STSv1; id=20261204"
EOF
dns_zone tst.test >/dev/null <<EOF
@         MX 10 mx1
mx1       A  127.0.0.4
mta-sts   A  127.0.0.7
_mta-sts  TXT "v=STSv1; id=1"
EOF
dns_start "$NET_DIR/zones/enf.test.zone" "$NET_DIR/zones/tst.test.zone"

for d in enf tst; do mkdir -p "$NET_DIR/www-$d/.well-known"; done
printf 'version: STSv1\r\nmode: enforce\r\nmx: mx2.enf.test\r\nmax_age: 86400\r\n' > "$NET_DIR/www-enf/.well-known/mta-sts.txt"
printf 'version: STSv1\r\nmode: testing\r\nmx: other.tst.test\r\nmax_age: 86400\r\n' > "$NET_DIR/www-tst/.well-known/mta-sts.txt"
https_start 127.0.0.6 "$c/mta-sts.enf.test.pem" "$c/mta-sts.enf.test.key" "$NET_DIR/www-enf"
https_start 127.0.0.7 "$c/mta-sts.tst.test.pem" "$c/mta-sts.tst.test.key" "$NET_DIR/www-tst"

cert() { echo "--cert $c/$1.pem --key $c/$1.key"; }
# shellcheck disable=SC2046
{
	peer_start enf1 127.0.0.2 25 --record "$NET_DIR/enf1.json" $(cert mx1.enf.test)
	peer_start enf2 127.0.0.3 25 --record "$NET_DIR/enf2.json" $(cert mx2.enf.test)
	peer_start tst1 127.0.0.4 25 --record "$NET_DIR/tst1.json" $(cert mx1.tst.test)
}

tern_instance
ternconf -e "smtp_mta_sts = yes" "smtp_tls_CAfile = $NET_DIR/ca/ca.pem" || fail "ternconf -e"
tern_start
log=$TERN_DIR/maillog
field() { python3 -c 'import json,sys; m=json.loads(open(sys.argv[1]).read().splitlines()[int(sys.argv[2])-1]); print(eval(sys.argv[3]))' "$@"; }

printf 'Subject: enforce\n\nbody\n' | sendmail -i -f alice@localhost u@enf.test || fail "sendmail"
printf 'Subject: testing\n\nbody\n' | sendmail -i -f alice@localhost u@tst.test || fail "sendmail"

# enforce: only the MX the policy names, over verified TLS.
peer_wait_messages "$NET_DIR/enf2.json" 1
[ "$(field "$NET_DIR/enf2.json" 1 'm["tls"] is not None')" = True ] || fail "no TLS to the policy's MX"
wait_for_log 'to=<u@enf\.test>, relay=mx2\.enf\.test\[127\.0\.0\.3\]:25,.* status=sent'
[ -e "$NET_DIR/enf1.json.raw" ] && fail "mx1.enf.test, not in the policy, was contacted: $(cat "$NET_DIR/enf1.json.raw")"
grep -q 'Verified TLS connection established to mx2\.enf\.test' "$log" ||
	fail "TLS to mx2.enf.test not verified: $(grep 'enf' "$log")"

# testing: delivered to the MX outside the policy, the mismatch logged.
peer_wait_messages "$NET_DIR/tst1.json" 1
wait_for_log 'to=<u@tst\.test>, relay=mx1\.tst\.test\[127\.0\.0\.4\]:25,.* status=sent'
grep -q 'MTA-STS.*tst\.test.*testing.*mx1\.tst\.test is not in the policy' "$log" ||
	fail "testing mode did not log the MX outside the policy: $(grep 'tst' "$log")"
pass
