#!/usr/bin/env python3
"""check.py - count and verify delivered copies for tests/faults/run.

Usage: check.py SENTDIR MBOX MAILDIR [KIND:DIR ...]

SENTDIR holds each sent message as it was submitted (file ID, plus
ID.rc). Prints one line per sent message: "ID MBOX_COPIES MAILDIR_COPIES
BAD [COPIES ...]", where BAD counts copies whose body is not byte for
byte the one sent (with the mbox's ">From " quoting undone) and mbox
messages whose From_ line is broken, and each further COPIES counts the
copies in one more KIND:DIR, in the order given:
  files:DIR  one message a file, as a |command got it (a From_ line and
             headers before the message's own, the body unchanged);
  sink:DIR   one message a file as smtp-sink -d dumps it (its own
             headers first, an empty line after the body);
  maildir:DIR  a Maildir (new/ and cur/), as the Maildir argument;
  notices:MBOX  an mbox of non-delivery notices: counts the notices
             that name the message (its Message-Id anywhere in them),
             and a notice whose From_ line is broken or that names no
             sent message as bad.
A file whose body differs and that changed in the last two seconds is
taken for one still being written and not counted yet.
A message is found by its Message-Id header.
"""
import os
import re
import sys
import time

FROM_LINE = re.compile(rb"^From \S+ +\S{3} \S{3} +\d+ \d\d:\d\d:\d\d \d{4}$")


def split_message(data):
    """(headers, body) of a message with LF line ends."""
    head, sep, body = data.partition(b"\n\n")
    return head, body if sep else b""


def message_id(head):
    m = re.search(rb"(?im)^Message-Id:\s*<([^>]*)@faults>", head)
    return m.group(1).decode() if m else None


def mbox_messages(path):
    """Yield (message, from_line_ok) for each message of an mbox file."""
    try:
        data = open(path, "rb").read()
    except FileNotFoundError:
        return
    if not data:
        return
    # Messages start at a From_ line at the start of the file or after an
    # empty line; each ends with an empty line.
    chunks = re.split(rb"(?:^|\n\n)(?=From )", data)
    for i, chunk in enumerate(chunks):
        if not chunk:
            continue
        first, _, rest = chunk.partition(b"\n")
        ok = bool(FROM_LINE.match(first))
        if i == len(chunks) - 1:
            ok = ok and rest.endswith(b"\n\n")
            rest = rest[:-1]
        else:
            rest += b"\n"	# the separator took the message's last LF
        # Every "From " line inside a message is quoted: a reader may
        # take an unquoted one for the start of the next message.
        if re.search(rb"(?m)^From ", rest):
            ok = False
        body_unquoted = re.sub(rb"(?m)^>(>*From )", rb"\1", rest)
        yield body_unquoted, ok


def main():
    sent_dir, mbox, maildir = sys.argv[1:4]
    sent = {}
    for name in os.listdir(sent_dir):
        if name.endswith(".rc"):
            continue
        head, body = split_message(open(os.path.join(sent_dir, name), "rb").read())
        sent[name] = body
    counts = {mid: [0, 0, 0] for mid in sent}
    bad_unknown = 0

    def tally(msg, slot, ok):
        nonlocal bad_unknown
        head, body = split_message(msg)
        mid = message_id(head)
        if mid not in counts:
            bad_unknown += 1
            return
        counts[mid][slot] += 1
        if not ok or body != sent[mid]:
            counts[mid][2] += 1

    for msg, ok in mbox_messages(mbox):
        tally(msg, 0, ok)
    def maildir_files(maildir):
        for sub in ("new", "cur"):
            d = os.path.join(maildir, sub)
            if not os.path.isdir(d):
                continue
            for name in os.listdir(d):
                yield open(os.path.join(d, name), "rb").read()

    for msg in maildir_files(maildir):
        tally(msg, 1, True)
    extra = sys.argv[4:]
    for mid in counts:
        counts[mid] += [0] * len(extra)
    for slot, spec in enumerate(extra, start=3):
        kind, _, d = spec.partition(":")
        if kind == "maildir":
            for msg in maildir_files(d):
                head, body = split_message(msg)
                mid = message_id(head)
                if mid not in counts:
                    bad_unknown += 1
                    continue
                counts[mid][slot] += 1
                if body != sent[mid]:
                    counts[mid][2] += 1
            continue
        if kind == "notices":
            for msg, ok in mbox_messages(d):
                named = set(m.decode() for m in re.findall(rb"(?im)^Message-Id:\s*<([^>]*)@faults>", msg))
                named &= set(counts)
                if not ok or not named:
                    bad_unknown += 1
                for mid in named:
                    counts[mid][slot] += 1
            continue
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            path = os.path.join(d, name)
            try:
                st = os.stat(path)
                data = open(path, "rb").read()
            except OSError:
                continue	# renamed away or removed meanwhile
            if not os.path.isfile(path) or name.endswith(".tmp"):
                continue
            ok = True
            if kind == "sink":
                data = data.replace(b"\r\n", b"\n")
                ok = data.endswith(b"\n\n")
                data = data[:-1]
            head, body = split_message(data)
            mid = message_id(head)
            if mid in counts and (not ok or body != sent[mid]) and time.time() - st.st_mtime < 2:
                continue	# still being written
            if mid not in counts:
                bad_unknown += 1
                continue
            counts[mid][slot] += 1
            if not ok or body != sent[mid]:
                counts[mid][2] += 1
    for mid in sorted(counts):
        print(mid, *counts[mid])
    if bad_unknown:
        print("unknown-or-broken", 0, 0, bad_unknown)


if __name__ == "__main__":
    main()
