"""``crowdmood setup`` and ``crowdmood teardown``: the Setup wizard's twins for scripts and tests;
``crowdmood aws-redrive``: give the Lambda another go at the events it failed on.

Same :class:`~crowdmood_gui.core.aws.provision.Provisioner` as the wizard; one progress
line per step on stderr; exit 0 on success, 2 with one clear line otherwise. Without
``--yes`` nothing is created or deleted: the plan is printed and the exit code is 2.
``AWS_ENDPOINT_URL`` (an emulator such as moto server) is honoured by boto3 itself.
"""

from __future__ import annotations

import argparse
import sys

from crowdmood_gui.core.errors import AwsError, CrowdMoodError


def add_parser(subparsers) -> None:
    from crowdmood_gui.core.flags import add_config_arguments

    setup = subparsers.add_parser(
        "setup",
        help="create (or adopt) the AWS resources of the cloud backend",
        description="Create or adopt the S3 bucket, DynamoDB table, IAM role, Lambda, its failure queue, "
        "log group and CloudWatch dashboard of the AWS backend, verify them, and write their names to the config.",
    )
    _common(setup, add_config_arguments)
    setup.add_argument("--no-verify", action="store_true", help="skip uploading the test face and waiting for its result")
    setup.add_argument("--rollback-on-failure", action="store_true", help="delete what this run created if a step fails")
    setup.add_argument("--use-aws-backend", action="store_true", help="also switch the console to the AWS backend")
    setup.add_argument("--expiry-days", type=int, default=1, metavar="N", help="delete uploaded face crops after N days (default 1)")
    setup.add_argument("--verify-timeout", type=float, default=120.0, metavar="SECONDS", help="how long verify waits (default 120)")
    setup.set_defaults(func=run_setup)

    teardown = subparsers.add_parser(
        "teardown",
        help="delete the AWS resources that setup created",
        description="Delete everything 'crowdmood setup' created (emptying the bucket first) and report what could not be deleted.",
    )
    _common(teardown, add_config_arguments)
    teardown.set_defaults(func=run_teardown)

    redrive = subparsers.add_parser(
        "aws-redrive",
        help="re-run the Lambda on the events it failed on (kept in the failure queue)",
        description="S3 invokes the Lambda asynchronously; when an analysis still fails after AWS's two "
        "retries, its event is kept in the queue <function>-failed (14 days) instead of being lost. "
        "This command re-invokes the function asynchronously with each kept S3 event and deletes a "
        "message only once its invoke was accepted; a message that is not a failure record of this "
        "function is left in the queue and reported. Exit 0 when everything was redriven, 2 otherwise.",
    )
    add_config_arguments(redrive)
    redrive.add_argument("--region", help="AWS region (default: the config, then AWS_REGION / the profile's region)")
    redrive.add_argument("--profile", help="AWS profile (default: the config, then the standard credential chain)")
    redrive.add_argument("--name-suffix", metavar="S", help="suffix of the resource names (default: the config's names)")
    redrive.add_argument("--limit", type=int, metavar="N", help="redrive at most N events this run (default: all)")
    redrive.set_defaults(func=run_redrive)


def _common(parser: argparse.ArgumentParser, add_config_arguments) -> None:
    add_config_arguments(parser)
    parser.add_argument("--yes", action="store_true", help="really do it (without: print the plan and exit 2)")
    parser.add_argument("--region", help="AWS region (default: the config, then AWS_REGION / the profile's region)")
    parser.add_argument("--profile", help="AWS profile (default: the config, then the standard credential chain)")
    parser.add_argument("--name-suffix", metavar="S", help="suffix of the resource names (default: the config's names, else random)")


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _context(args):
    """(config, session, names, names_source) from flags, config and state."""
    from crowdmood_gui.core.aws.clients import make_session
    from crowdmood_gui.core.aws.naming import default_names, validate_suffix
    from crowdmood_gui.core.aws.provision import names_from_config
    from crowdmood_gui.core.aws.regions import region_warning
    from crowdmood_gui.core.config import load_config

    config = load_config(args.config)
    profile = args.profile if args.profile is not None else config.aws.profile
    region = args.region or config.aws.region
    session = make_session(profile=profile, region=region)
    if not session.region_name:
        raise AwsError("no AWS region: pass --region (or set AWS_REGION, or a region in the profile)")
    warning = region_warning(session.region_name)
    if warning:
        raise AwsError(warning)
    if args.name_suffix:
        problem = validate_suffix(args.name_suffix)
        if problem:
            raise CrowdMoodError(f"--name-suffix: {problem.split(': ', 1)[1]}")
        return config, session, default_names(args.name_suffix, namespace=config.aws.namespace), "suffix"
    names = names_from_config(config)
    if names is not None:
        return config, session, names, "config"
    return config, session, None, None


def run_setup(args) -> int:
    from crowdmood_gui.core.aws.naming import default_names
    from crowdmood_gui.core.aws.provision import REDRIVE_HINT, Provisioner, finish_setup, operator_policy_for
    from crowdmood_gui.core.aws.regions import whoami

    config, session, names, _ = _context(args)
    if names is None:
        names = default_names(namespace=config.aws.namespace)
    if args.expiry_days < 1:
        raise CrowdMoodError("--expiry-days must be at least 1")
    provisioner = Provisioner(session, names, log=_err, expiry_days=args.expiry_days)
    if not args.yes:
        print(provisioner.describe_plan())
        suffix = names.bucket.rsplit("-", 1)[-1]
        _err(f"crowdmood: nothing created: re-run with --yes (and --name-suffix {suffix} to keep these names) to create them")
        return 2
    identity = whoami(session)
    _err(f"AWS identity: {identity.describe()}, region {session.region_name}")
    report = provisioner.run(rollback_on_failure=args.rollback_on_failure)
    if not report.ok:
        _err(f"crowdmood: error: {report.summary()}")
        if not args.rollback_on_failure:
            _err("crowdmood: run the same command again to resume, or 'crowdmood teardown --yes' to remove what was created")
        return 2
    path = finish_setup(
        names, region=session.region_name, profile=args.profile or config.aws.profile,
        use_aws_backend=args.use_aws_backend, config_path=args.config,
    )
    _err(f"AWS settings written to {path}")
    print("Minimal IAM policy for the console operator's own user (attach it instead of admin rights):")
    print(operator_policy_for(session, names, identity.account))
    if not args.no_verify:
        result = provisioner.verify(timeout_s=args.verify_timeout)  # logs the failed analyses waiting
        if not result.ok:
            _err(f"crowdmood: error: verification failed: {result.message}")
            return 2
    else:
        waiting = provisioner.failed_waiting()
        if waiting:
            _err(f"{waiting} failed analyses waiting: {REDRIVE_HINT}")
    return 0


def run_teardown(args) -> int:
    from crowdmood_gui.core.aws.naming import ResourceNames
    from crowdmood_gui.core.aws.provision import Provisioner, StateFile, forget_setup

    config, session, names, source = _context(args)
    if names is None:
        recorded = [d for d in StateFile().deployments() if d.get("region") == session.region_name]
        if len(recorded) != 1:
            where = "several deployments are" if recorded else "no deployment is"
            raise CrowdMoodError(
                f"nothing to tear down: {where} recorded for {session.region_name} and the config names none; pass --name-suffix"
            )
        names = ResourceNames.from_dict(recorded[0]["names"])
    provisioner = Provisioner(session, names, log=_err)
    if not args.yes:
        print(f"Region {session.region_name}; would delete what setup created among:")
        for planned in provisioner.plan():
            print(f"  - {planned.kind} '{planned.name}'")
        _err("crowdmood: nothing deleted: re-run with --yes to delete them")
        return 2
    report = provisioner.teardown()
    if source == "config" or config.aws.bucket == names.bucket:
        forget_setup(names, config_path=args.config)
    if not report.ok:
        left = ", ".join(f"{s.title} ({s.resource})" for s in report.failed)
        _err(f"crowdmood: error: teardown incomplete; still there: {left}: run it again or delete them in the AWS console")
        return 2
    return 0


def run_redrive(args) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from crowdmood_gui.core.aws import redrive
    from crowdmood_gui.core.aws.clients import client, describe_aws_error
    from crowdmood_gui.core.aws.naming import ResourceNames
    from crowdmood_gui.core.aws.provision import StateFile

    if args.limit is not None and args.limit < 1:
        raise CrowdMoodError("--limit must be at least 1")
    _, session, names, _ = _context(args)
    if names is None:
        recorded = [d for d in StateFile().deployments() if d.get("region") == session.region_name]
        if len(recorded) != 1:
            raise CrowdMoodError(f"no AWS setup found for {session.region_name}: run crowdmood setup (or pass --name-suffix)")
        names = ResourceNames.from_dict(recorded[0]["names"])
    sqs, lam = client(session, "sqs"), client(session, "lambda")
    queue_url = redrive.failure_queue_url(sqs, names.failure_queue)
    try:
        report = redrive.redrive(sqs, lam, queue_url, names.function, log=_err, limit=args.limit)
        left = redrive.messages_waiting(sqs, queue_url)
    except (ClientError, BotoCoreError) as exc:
        raise AwsError(describe_aws_error(exc)) from None
    print(f"{report.summary()}; {left} message(s) left in {names.failure_queue}")
    if not report.ok:
        _err(f"crowdmood: error: {report.kept} event(s) could not be redriven and stay in the queue (reasons above)")
        return 2
    return 0
