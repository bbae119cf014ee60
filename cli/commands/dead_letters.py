"""Dead-letter queues, over AMQP: list them without consuming, and resubmit after a fix."""
import re

import click

from cli import broker
from cli.rpc import BROKER_ERRORS, Failure, broker_failure
from cli.session import pass_session

QUEUE_HELP = ("A consumer queue (enrolment.intake, benefits.events, reporting.events) or its "
              "dead-letter queue's full name; repeatable. Default: all three.")
SHOWN_DIGEST = 12


def queues_of(chosen):
    return [broker.dead_letter_queue(q) for q in (chosen or broker.QUEUES)]


def digest_prefix(value):
    """A body's SHA-256 (a prefix of 6+ hex digits); an intake rejection's ``unparsed-`` key
    works too, being that digest's first 32 digits."""
    if value is None:
        return None
    value = value.strip().lower().removeprefix("unparsed-")
    if not re.fullmatch(r"[0-9a-f]{6,64}", value):
        raise click.BadParameter("6 to 64 hex digits of the body's SHA-256 (as listed)",
                                 param_hint="--id")
    return value


@click.group("dead-letters")
def dead_letters():
    """Messages the consumers gave up on, in RabbitMQ's <queue>.dead-letters queues.

    These commands talk AMQP to RabbitMQ directly, not RPC: they need no token
    but broker credentials allowed to read the dead-letter queues and publish to
    the original exchanges, given in --amqp-uri / AMQP_URI. Message bodies are
    never printed (they may hold personal data); each is named by the first
    digits of its body's SHA-256, which for an unreadable intake body is the
    event id of its rejection (unparsed-<digits>).
    """


@dead_letters.command("list")
@click.option("--queue", "queues", multiple=True, metavar="QUEUE", help=QUEUE_HELP)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="Show at most this many messages per queue, front first.")
@pass_session
def list_letters(session, queues, limit):
    """Dead letters with their reason, original exchange and routing key, when and size.

    Peeks without consuming: the messages are taken unacknowledged and given
    back to the broker, in their place, when the command ends.
    """
    found = []
    try:
        with broker.broker(session.amqp_uri) as connection:
            for queue in queues_of(queues):
                count = broker.depth(connection, queue)
                letters = broker.peek(connection, queue, limit) if count else []
                found.append({"queue": queue, "exists": count is not None, "messages": count or 0,
                              "letters": [letter.as_dict() for letter in letters]})
    except BROKER_ERRORS as exc:
        raise broker_failure(session.amqp_uri, exc) from None
    if session.as_json:
        session.out.json(found)
        return
    out = session.out
    for queue in found:
        if not queue["exists"]:
            out.print(f"{queue['queue']}: no such queue (has its service ever started on this "
                      "vhost?)")
            continue
        if not queue["messages"]:
            out.print(f"{queue['queue']}: empty")
            continue
        shown = len(queue["letters"])
        out.table(f"{queue['queue']}: {queue['messages']} message(s)"
                  + (f", first {shown} shown" if shown < queue["messages"] else ""),
                  ["#", "dead-lettered at", "service", "reason", "original exchange / key",
                   "bytes", "sha256"],
                  [[l["position"], l["dead_lettered_at"], l["service"], l["reason"],
                    f"{l['exchange']} / {l['routing_key']}", l["size"],
                    l["digest"][:SHOWN_DIGEST]] for l in queue["letters"]])


@dead_letters.command("resubmit")
@click.option("--queue", "queues", multiple=True, metavar="QUEUE", help=QUEUE_HELP)
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Resubmit at most this many messages in all (default: all).")
@click.option("--id", "digest", metavar="SHA256",
              help="Only the messages whose body's SHA-256 starts with this (as listed).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_session
def resubmit(session, queues, limit, digest, yes):
    """Publish dead letters again to where they were first published, once fixed.

    Each message, front first, is republished to its x-original-exchange with
    its x-original-routing-key, its body, content type and headers (less the
    dead-letter ones), persistent, with publisher confirms and mandatory; only
    once the broker confirmed it is it removed from the dead-letter queue. Stops
    at the first failure, which stays queued with all after it (exit 1).

    Every queue bound to the original exchange and key gets a copy; the
    services' inboxes ignore events they already applied. A message the consumer
    still cannot handle comes back to the dead-letter queue.
    """
    prefix = digest_prefix(digest)
    chosen = queues_of(queues)
    left = limit if limit is not None else float("inf")
    done, results = 0, []
    try:
        with broker.broker(session.amqp_uri) as connection:
            waiting = {q: broker.depth(connection, q) or 0 for q in chosen}
            total = sum(waiting.values())
            if not total:
                click.echo("no dead letters to resubmit", err=True)
            elif not yes:
                what = ", ".join(f"{n} in {q}" for q, n in waiting.items() if n)
                scope = f"the messages with sha256 {prefix}..." if prefix else (
                    f"up to {limit}" if limit else "all")
                click.confirm(f"Resubmit {scope} of {what}?", abort=True, err=True)
            for queue in chosen:
                if not waiting[queue] or left <= 0:
                    continue
                result = broker.resubmit(connection, queue, left, prefix)
                results.append(result)
                done += result.resubmitted
                left -= result.resubmitted
                if result.failed:
                    break
    except BROKER_ERRORS as exc:
        raise broker_failure(session.amqp_uri, exc) from None
    if session.as_json:
        session.out.json([{"queue": r.queue, "resubmitted": r.resubmitted, "skipped": r.skipped,
                           "remaining": r.remaining, "failure": r.failure or None,
                           "failed": r.failed.as_dict() if r.failed else None,
                           "letters": [letter.as_dict() for letter in r.letters]}
                          for r in results])
    else:
        for r in results:
            session.out.print(f"{r.queue}: resubmitted {r.resubmitted}"
                              + (f", passed over {r.skipped}" if r.skipped else "")
                              + f", now {r.remaining if r.remaining is not None else '?'} "
                                "in the queue")
        session.out.print(f"resubmitted {done} message(s) in all")
    failed = next((r for r in results if r.failed), None)
    if failed:
        raise Failure([f"stopped at message #{failed.failed.position} of {failed.queue} "
                       f"(sha256 {failed.failed.digest[:SHOWN_DIGEST]}): {failed.failure}",
                       "it and the messages after it are still in the dead-letter queue"])


COMMANDS = (dead_letters,)
