#!/usr/bin/env python3
"""smtp_submit.py - send a message over SMTP with sendmail's arguments.

Usage: smtp_submit.py PORT [-f SENDER] [-N NOTIFY] [-R RET] [-V ENVID] [-i] RCPT...

Reads the message from standard input (LF or CRLF line ends) and sends
it to 127.0.0.1:PORT with Python's smtplib, as `sendmail -f SENDER RCPT...`
would queue it: -N becomes NOTIFY= on every RCPT, -R becomes RET= and
-V ENVID= on MAIL (sendmail's -N, -R and -V). -i is accepted and ignored
(SMTP has no lone-dot problem: smtplib stuffs dots). Exits 0 when the
message was accepted, 75 on a 4xx reply, 69 on a 5xx reply or a refused
recipient. lib.sh's submit() runs it when TERN_SUBMIT=smtp.
"""
import smtplib
import sys


def main():
    port = int(sys.argv[1])
    args = sys.argv[2:]
    sender, notify, ret, envid = "", None, None, None
    while args and args[0].startswith("-") and len(args[0]) > 1:
        opt = args.pop(0)
        if opt == "-i":
            continue
        if opt in ("-f", "-N", "-R", "-V"):
            value = args.pop(0)
        elif opt[:2] in ("-f", "-N", "-R", "-V"):
            opt, value = opt[:2], opt[2:]
        else:
            sys.exit("smtp_submit.py: unsupported option %s" % opt)
        if opt == "-f":
            sender = value.strip("<>")
        elif opt == "-N":
            notify = value.upper()
        elif opt == "-R":
            ret = value.upper()
        else:
            envid = value
    rcpts = args
    if not rcpts:
        sys.exit("smtp_submit.py: no recipients")
    data = sys.stdin.buffer.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    mail_opts = []
    if ret:
        mail_opts.append("RET=" + ret)
    if envid:
        mail_opts.append("ENVID=" + envid)
    rcpt_opts = ["NOTIFY=" + notify] if notify else []
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
            s.ehlo("submit.example")
            refused = s.sendmail(sender, rcpts, data, mail_options=mail_opts, rcpt_options=rcpt_opts)
    except smtplib.SMTPResponseException as e:
        print("smtp_submit.py: %d %s" % (e.smtp_code, e.smtp_error.decode(errors="replace")),
              file=sys.stderr)
        sys.exit(75 if 400 <= e.smtp_code < 500 else 69)
    except smtplib.SMTPRecipientsRefused as e:
        print("smtp_submit.py: refused %r" % e.recipients, file=sys.stderr)
        sys.exit(69)
    if refused:
        print("smtp_submit.py: refused %r" % refused, file=sys.stderr)
        sys.exit(69)


if __name__ == "__main__":
    main()
