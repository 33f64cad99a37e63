"""``crowdmood sessions`` and ``crowdmood export``: recorded sessions from the shell.

    crowdmood sessions list [--json]
    crowdmood sessions rename SESSION NEW_NAME
    crowdmood sessions delete SESSION --yes
    crowdmood sessions import NAME [--table T] [--region R]   (AWS mode: from DynamoDB)
    crowdmood sessions recover FILE [--into SESSION]   (results a full disk kept out of session.db)
    crowdmood export SESSION --out DIR [--period 1|10|60]

SESSION is a session id (its folder name, shown by ``sessions list``) or its name.
``export`` writes timeline.csv, faces.csv (the columns of ``crowdmood analyze``),
chart.png and summary.html (one self-contained page for a client); no display needed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from crowdmood_gui.core.errors import InputError
from crowdmood_gui.core.series import PERIODS


def add_parser(subparsers) -> None:
    from crowdmood_gui.core.flags import add_config_arguments

    parser = subparsers.add_parser(
        "sessions", help="list, rename, delete or import recorded sessions",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    actions.required = True
    p = actions.add_parser("list", help="every session with its duration, records and disk usage")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    add_config_arguments(p)
    p.set_defaults(func=run_list)
    p = actions.add_parser("rename", help="change a session's display name")
    p.add_argument("session")
    p.add_argument("name")
    add_config_arguments(p)
    p.set_defaults(func=run_rename)
    p = actions.add_parser("delete", help="delete a session folder (not while it records)")
    p.add_argument("session")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_config_arguments(p)
    p.set_defaults(func=run_delete)
    p = actions.add_parser("recover", help="merge results a full disk kept out of a session back into it")
    p.add_argument("file", type=Path, help="the crowdmood-unsaved-*.jsonl file named by the error")
    p.add_argument("--into", metavar="SESSION", help="session id or name (default: the one named in the file)")
    add_config_arguments(p)
    p.set_defaults(func=run_recover)
    p = actions.add_parser("import", help="import an AWS-mode session's records from DynamoDB")
    p.add_argument("name", help="the session name the records were captured under")
    p.add_argument("--table", help="DynamoDB table (default: the configured aws.table)")
    p.add_argument("--region", help="AWS region (default: the configured aws.region)")
    p.add_argument("--profile", help="AWS profile")
    add_config_arguments(p)
    p.set_defaults(func=run_import)

    e = subparsers.add_parser(
        "export", help="export a session: timeline.csv, faces.csv, chart.png, summary.html",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    e.add_argument("session", metavar="SESSION", help="session id or name (see: crowdmood sessions list)")
    e.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (created if needed)")
    e.add_argument("--period", type=int, choices=PERIODS, default=1, help="timeline CSV period in seconds")
    add_config_arguments(e)
    e.set_defaults(func=run_export)


def _config(args):
    from crowdmood_gui.core.config import load_config

    return load_config(getattr(args, "config", None))


def run_list(args) -> int:
    from crowdmood_gui.core.sessions import human_bytes, list_sessions
    from crowdmood_gui.core.summary import fmt_clock

    infos = list_sessions(_config(args))
    if args.json:
        for i in infos:
            print(json.dumps({
                "id": i.id, "name": i.name, "started": i.started.isoformat() if i.started else None,
                "ended": i.ended.isoformat() if i.ended else None, "duration_s": round(i.duration_s, 1),
                "source": i.source, "backend": i.backend, "records": i.records, "disk_bytes": i.disk_bytes,
                "has_video": i.has_video, "recording": i.recording, "path": str(i.path),
                "damaged": i.damaged,
            }))
        return 0
    if not infos:
        print("no sessions yet")
        return 0
    header = f"{'ID':<28} {'NAME':<24} {'STARTED':<19} {'DURATION':>8} {'RECORDS':>7} {'DISK':>9} VIDEO"
    print(header)
    for i in infos:
        started = i.started.astimezone().strftime("%Y-%m-%d %H:%M:%S") if i.started else "-"
        flag = "yes" if i.has_video else "no"
        if i.recording:
            flag += " (recording)"
        records = "damaged" if i.damaged else str(i.records)
        print(f"{i.id[:28]:<28} {i.name[:24]:<24} {started:<19} {fmt_clock(i.duration_s):>8} {records:>7} "
              f"{human_bytes(i.disk_bytes):>9} {flag}")
    for i in infos:
        if i.damaged:
            print(f"warning: session {i.id} is damaged ({i.damaged}): {i.path / 'session.db'}", file=sys.stderr)
    return 0


def run_recover(args) -> int:
    from crowdmood_gui.core.sessions import open_session
    from crowdmood_gui.core.store import recover_unsaved

    db_path = open_session(_config(args), args.into).db_path if args.into else None
    target, count = recover_unsaved(args.file, db_path)
    print(f"merged {count} results from {args.file} into {target}")
    return 0


def run_rename(args) -> int:
    from crowdmood_gui.core.sessions import rename_session

    session = rename_session(_config(args), args.session, args.name)
    print(f"session {session.id} renamed to {args.name!r}")
    return 0


def run_delete(args) -> int:
    from crowdmood_gui.core.sessions import delete_session, open_session

    config = _config(args)
    session = open_session(config, args.session)
    if not args.yes:
        if not sys.stdin.isatty():
            raise InputError("deleting needs --yes when not run from a terminal")
        answer = input(f"Delete session {session.id} ({session.path})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("not deleted")
            return 1
    delete_session(config, session.id)
    print(f"session {session.id} deleted")
    return 0


def run_import(args) -> int:
    from crowdmood_gui.core.aws.clients import client, make_session
    from crowdmood_gui.core.sessions import import_from_dynamodb

    config = _config(args)
    aws = make_session(config.aws, profile=args.profile, region=args.region)
    session, count = import_from_dynamodb(config, args.name, dynamodb=client(aws, "dynamodb"), table=args.table)
    print(f"imported {count} records into session {session.id}")
    return 0


def run_export(args) -> int:
    from crowdmood_gui.core.export import export_session
    from crowdmood_gui.core.sessions import open_session

    session = open_session(_config(args), args.session)
    written = export_session(session, args.out, period=args.period)
    for name, path in written.items():
        print(path)
    return 0
